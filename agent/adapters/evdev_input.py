"""Key, click, scroll and travel counts read from the kernel's event devices (``/dev/input/event*``).

Wayland gives applications no global input, so where this account may read ``/dev/input`` (the
``input`` group) the counts come from the devices themselves through python-evdev. Which key went
down is never kept (:mod:`agent.adapters.evdev_events` reads the events). Wayland gives no pointer
position either, so ``mouse_px`` measures the summed relative travel of the mice and touchpads in
device counts (about a pixel each), not distance on the screen.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent.adapters.evdev_events import Capabilities, DeviceEvents, InputEventLike, device_kinds
from agent.seams import InputSink
from contract.errors import VinovaError

logger = logging.getLogger(__name__)

DEFAULT_INPUT_DIR = "/dev/input"
RESCAN_SECONDS = 3.0
STOP_TIMEOUT_SECONDS = 2.0

MESSAGE_COUNTING = "Keys and clicks are counted from the input devices"
MESSAGE_NO_ACCESS = (
    "Keys and clicks cannot be counted: this account may not read the input devices. To count them, "
    "add yourself to the input group (sudo usermod -aG input $USER), then sign out and in again"
)


class InputDeviceHandle(Protocol):
    """One open event device (python-evdev's ``InputDevice``, or a test's stand-in on a socket).

    Used only on the reader thread (and by ``start`` before it runs). ``read`` does not block: it
    raises ``BlockingIOError`` when nothing is waiting and ``OSError`` (ENODEV) once the device is gone.
    """

    def fileno(self) -> int: ...

    def read(self) -> Iterable[InputEventLike]: ...

    def capabilities(self) -> Capabilities:
        """Event type -> codes; EV_ABS codes come as ``(code, AbsInfo)`` with a ``resolution``."""

    def close(self) -> None: ...


class DeviceOpener(Protocol):
    """Finds and opens event devices. Called on the reader thread every few seconds; may raise OSError."""

    def list_paths(self) -> list[str]:
        """The event devices present now; OSError when the directory cannot be listed."""

    def open(self, path: str) -> InputDeviceHandle:
        """Open one device read-only and without blocking; OSError when it may not be read."""


class EvdevDeviceOpener:
    """The real opener: ``event*`` in ``/dev/input`` through python-evdev's ``InputDevice``."""

    def __init__(self, input_dir: str = DEFAULT_INPUT_DIR) -> None:
        self._input_dir = Path(input_dir)

    def list_paths(self) -> list[str]:
        """Every ``event*`` node in the input folder, sorted; OSError when the folder is missing."""
        return sorted(str(self._input_dir / name) for name in os.listdir(self._input_dir)
                      if name.startswith("event"))

    def open(self, path: str) -> InputDeviceHandle:
        """python-evdev's device, opened read-only (O_RDWR could make some keyboards re-assert LEDs)."""
        from evdev import InputDevice

        device: InputDeviceHandle = InputDevice(path, readonly=True)
        return device


def _readable_event_device(path: str) -> bool:
    """Whether ``path`` is a character device this process may read (os.access also honours ACLs)."""
    try:
        return stat.S_ISCHR(os.stat(path).st_mode) and os.access(path, os.R_OK)
    except OSError:
        return False


def evdev_access(
    input_dir: str = DEFAULT_INPUT_DIR, readable: Callable[[str], bool] = _readable_event_device
) -> tuple[bool, str]:
    """Whether any event device in ``input_dir`` is readable here, and what that means in plain words."""
    try:
        names = sorted(name for name in os.listdir(input_dir) if name.startswith("event"))
    except FileNotFoundError:
        return False, f"Keys and clicks cannot be counted: this computer has no {input_dir}"
    except OSError:  # the folder itself is closed to this account
        return False, MESSAGE_NO_ACCESS
    if not names:
        return False, f"Keys and clicks cannot be counted: there are no input devices in {input_dir}"
    if any(readable(os.path.join(input_dir, name)) for name in names):
        return True, MESSAGE_COUNTING
    return False, MESSAGE_NO_ACCESS


@dataclass(frozen=True, slots=True)
class _Device:
    """One open keyboard or pointer: where it is, its handle, and what its events mean."""

    path: str
    handle: InputDeviceHandle
    events: DeviceEvents


class _DeviceSet:
    """The open devices, their selector and the paths passed over; owned by one reader thread."""

    def __init__(self, opener: DeviceOpener, stop_reader: int) -> None:
        self.opener = opener
        self.selector = selectors.DefaultSelector()  # epoll on Linux: one thread for every device
        self.selector.register(stop_reader, selectors.EVENT_READ, None)
        self.devices: dict[str, _Device] = {}
        self.passed_over: set[str] = set()  # not input-like, or unreadable: tried again once re-created

    def scan(self) -> None:
        """Open the devices that appeared, close those whose node went away; OSError if none can be listed."""
        present = set(self.opener.list_paths())
        for path in [path for path in self.devices if path not in present]:
            self.drop(path, "its node was removed")
        self.passed_over &= present
        for path in sorted(present - self.devices.keys() - self.passed_over):
            self._open(path)

    def _open(self, path: str) -> None:
        self.passed_over.add(path)  # until it is found input-like below
        try:
            handle = self.opener.open(path)
        except OSError as exc:
            logger.debug("cannot read the input device %s: %s", path, exc.strerror or exc)
            return
        try:
            capabilities = handle.capabilities()
            if kinds := device_kinds(capabilities):
                device = _Device(path, handle, DeviceEvents(capabilities))
                self.selector.register(handle.fileno(), selectors.EVENT_READ, device)
                self.devices[path] = device
                self.passed_over.discard(path)
                logger.info("counting input from %s (%s)", path, " and ".join(sorted(kinds)))
                return
        except OSError as exc:
            logger.debug("the input device %s went away while opening: %s", path, exc.strerror or exc)
        _close(handle)

    def drain(self, device: _Device, sink: InputSink, pointer: list[float]) -> None:
        """Hand every waiting event of one device to the sink; drop the device once it is gone."""
        try:
            events = list(device.handle.read())
        except BlockingIOError:
            return
        except OSError as exc:
            self.drop(device.path, "it was unplugged" if exc.errno == errno.ENODEV else str(exc.strerror))
            return
        if not events:  # a live event device never reports end of file
            self.drop(device.path, "it reported end of file")
            return
        for event in events:
            device.events.handle_event(event, sink, pointer)

    def drop(self, path: str, reason: str) -> None:
        """Stop reading one device and close it."""
        device = self.devices.pop(path, None)
        if device is None:
            return
        try:
            self.selector.unregister(device.handle.fileno())
        except (KeyError, ValueError, OSError):  # its descriptor is already unusable
            logger.debug("unregistering %s failed", path, exc_info=True)
        _close(device.handle)
        logger.info("stopped counting input from %s: %s", path, reason)

    def close(self) -> None:
        """Close every device and the selector."""
        for path in list(self.devices):
            self.drop(path, "input counting stopped")
        self.selector.close()


def _close(handle: InputDeviceHandle) -> None:
    try:
        handle.close()
    except OSError:  # a device that is gone may refuse even this
        logger.debug("closing an input device failed", exc_info=True)


class EvdevInputSource:
    """The :class:`agent.seams.InputSource` for Linux event devices (Wayland, or a console session).

    One daemon reader thread waits (epoll) on every open device and on a stop pipe, so ``stop`` ends
    it at once; it calls the sink directly. The input folder is listed again every ``rescan_seconds``
    to pick up plugged-in devices; an unplugged one is dropped and the thread goes on.
    """

    def __init__(self, opener: DeviceOpener | None = None, rescan_seconds: float = RESCAN_SECONDS) -> None:
        self._opener: DeviceOpener = opener if opener is not None else EvdevDeviceOpener()
        self._rescan_seconds = rescan_seconds
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop_writer: int | None = None
        # The summed relative motion of every pointing device (Wayland shows no absolute position).
        self._pointer = [0.0, 0.0]
        self._open_paths: tuple[str, ...] = ()

    def start(self, sink: InputSink) -> None:
        """Open the readable devices and start the reader; VinovaError if no device can be listed."""
        with self._lock:
            if not self.running:
                self._stop_locked()  # what is left of a reader that died
                self._start_locked(sink)

    def restart(self, sink: InputSink) -> None:
        """Close every device and the reader, dead or alive, and open them again; VinovaError if it cannot."""
        with self._lock:
            self._stop_locked()
            self._start_locked(sink)

    def _start_locked(self, sink: InputSink) -> None:
        stop_reader, stop_writer = os.pipe()
        devices = _DeviceSet(self._opener, stop_reader)
        try:
            devices.scan()
        except (OSError, ImportError) as exc:
            devices.close()
            os.close(stop_reader)
            os.close(stop_writer)
            raise VinovaError(f"the input devices cannot be listed, so keys and clicks are not counted: "
                              f"{exc}") from exc
        if not devices.devices:
            logger.info("no keyboard or pointer readable yet; looking again every %s s", self._rescan_seconds)
        self._open_paths = tuple(devices.devices)
        thread = threading.Thread(
            target=self._run, args=(sink, devices, stop_reader), name="evdev-input", daemon=True
        )
        self._thread, self._stop_writer = thread, stop_writer
        thread.start()
        logger.info("input counting from event devices started")

    def _run(self, sink: InputSink, devices: _DeviceSet, stop_reader: int) -> None:
        """The reader thread: wait on every device and the stop pipe; list the folder again now and then."""
        next_scan = time.monotonic() + self._rescan_seconds
        try:
            while True:
                ready = devices.selector.select(max(0.0, next_scan - time.monotonic()))
                for key, _events in ready:
                    if key.data is None:
                        return  # the stop pipe
                    devices.drain(key.data, sink, self._pointer)
                if time.monotonic() >= next_scan:
                    try:
                        devices.scan()
                    except OSError as exc:  # the folder went away (a container, a chroot): keep what is open
                        logger.debug("cannot list the input devices: %s", exc)
                    next_scan = time.monotonic() + self._rescan_seconds
                self._open_paths = tuple(devices.devices)
        except Exception:  # the thread's boundary: the watchdog sees running == False and restarts it
            logger.exception("the input device reader stopped")
        finally:
            devices.close()
            os.close(stop_reader)

    @property
    def running(self) -> bool:
        """Whether the reader thread is alive (lock-free: the thread object is replaced, never changed)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def open_paths(self) -> tuple[str, ...]:
        """The devices being read now (a snapshot the reader thread replaces); empty when not running."""
        return self._open_paths if self.running else ()

    def stop(self) -> None:
        """Stop the reader and close every device within ~2 s (idempotent)."""
        with self._lock:
            if self._thread is None:
                return
            self._stop_locked()
        logger.info("input counting from event devices stopped")

    def _stop_locked(self) -> None:
        thread, stop_writer = self._thread, self._stop_writer
        if thread is None or stop_writer is None:
            return
        self._thread = self._stop_writer = None
        with contextlib.suppress(OSError):  # the reader already ended and closed its end of the pipe
            os.write(stop_writer, b"\0")
        thread.join(STOP_TIMEOUT_SECONDS)
        os.close(stop_writer)
        if thread.is_alive():
            logger.warning("the input device reader did not end within %s s", STOP_TIMEOUT_SECONDS)
