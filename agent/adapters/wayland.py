"""A small Wayland client of our own: the registry, the idle-notify protocols and the outputs (issue 15).

Wayland gives a client no global input and no screen, but a compositor may offer an idle
notification (``ext_idle_notifier_v1``, or ``org_kde_kwin_idle`` on KDE and sway 1.7) and describe
its outputs (``wl_output``). This module speaks just that much of the wire protocol over the
compositor's Unix socket, so no Wayland library (and no C build) is needed:

- every message is ``object id (u32)``, ``size << 16 | opcode (u32)``, then the arguments — u32/i32
  words, strings as a u32 length (with the NUL) and the bytes padded to 4;
- object 1 is ``wl_display``; ``get_registry`` lists the globals, ``wl_registry.bind`` makes one ours;
  a ``wl_display.sync`` callback answers once the compositor has handled everything sent before it.

Nothing here is opened at import time; :func:`connect` opens the socket.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from contract.errors import VinovaError

logger = logging.getLogger(__name__)

DISPLAY_ID = 1
_HEADER = struct.Struct("<II")
_WORD = struct.Struct("<I")
_SIGNED = struct.Struct("<i")
READ_CHUNK_BYTES = 65536

# wl_display requests and events, wl_registry's, wl_callback's (wayland.xml).
_DISPLAY_SYNC, _DISPLAY_GET_REGISTRY = 0, 1
_DISPLAY_ERROR, _DISPLAY_DELETE_ID = 0, 1
_REGISTRY_BIND = 0
_REGISTRY_GLOBAL = 0
_CALLBACK_DONE = 0

# The idle protocols, newest first: (interface, version we speak, request that makes a notification).
IDLE_NOTIFIER = "ext_idle_notifier_v1"
KDE_IDLE = "org_kde_kwin_idle"
IDLE_PROTOCOLS = (IDLE_NOTIFIER, KDE_IDLE)
_GET_IDLE_NOTIFICATION = 1  # ext_idle_notifier_v1.get_idle_notification(new_id, timeout, seat)
_GET_IDLE_TIMEOUT = 0  # org_kde_kwin_idle.get_idle_timeout(new_id, seat, timeout)
_IDLED, _RESUMED = 0, 1  # the same two events on both notification objects

# wl_output events (version 4 adds the name a screenshot tool selects the output by).
_OUTPUT_GEOMETRY, _OUTPUT_MODE, _OUTPUT_DONE, _OUTPUT_NAME = 0, 1, 2, 4
_MODE_CURRENT = 0x1


class WaylandError(VinovaError):
    """The compositor could not be reached, refused a request, or lacks a protocol we need."""


def socket_path(environ: Mapping[str, str]) -> Path | None:
    """Where the compositor listens: ``$WAYLAND_DISPLAY`` (absolute, or under ``$XDG_RUNTIME_DIR``)."""
    display = environ.get("WAYLAND_DISPLAY", "").strip()
    if not display:
        return None
    if os.path.isabs(display):
        return Path(display)
    runtime_dir = environ.get("XDG_RUNTIME_DIR", "").strip()
    return Path(runtime_dir) / display if runtime_dir else None


def _encode(*arguments: int | str) -> bytes:
    """u32 words for ints (negative ones as i32), Wayland strings for str."""
    parts: list[bytes] = []
    for argument in arguments:
        if isinstance(argument, str):
            data = argument.encode("utf-8") + b"\0"
            parts.append(_WORD.pack(len(data)) + data + b"\0" * (-len(data) % 4))
        elif argument < 0:
            parts.append(_SIGNED.pack(argument))
        else:
            parts.append(_WORD.pack(argument))
    return b"".join(parts)


class _Reader:
    """Reads the arguments of one event in order."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._offset = 0

    def uint(self) -> int:
        (value,) = _WORD.unpack_from(self._body, self._offset)
        self._offset += 4
        return int(value)

    def signed(self) -> int:
        (value,) = _SIGNED.unpack_from(self._body, self._offset)
        self._offset += 4
        return int(value)

    def string(self) -> str:
        length = self.uint()
        data = self._body[self._offset : self._offset + length]
        self._offset += length + (-length % 4)
        return data.rstrip(b"\0").decode("utf-8", "replace")


EventHandler = Callable[[int, _Reader], None]


@dataclass(frozen=True, slots=True)
class WaylandGlobal:
    """One global the compositor offers: its registry name, interface and version."""

    name: int
    interface: str
    version: int


class WaylandClient:
    """One connection to a compositor. Not thread-safe: one thread sends and reads (or the caller locks)."""

    def __init__(self, connection: socket.socket) -> None:
        self._socket = connection
        self._next_id = DISPLAY_ID + 1
        self._handlers: dict[int, EventHandler] = {DISPLAY_ID: self._on_display}
        self._buffer = b""
        self.offered: list[WaylandGlobal] = []  # several of one interface possible (outputs, seats)
        registry = self.new_object(self._on_registry)
        self.request(DISPLAY_ID, _DISPLAY_GET_REGISTRY, registry)
        self._registry = registry
        self.roundtrip()

    # ------------------------------------------------------------------ the wire
    def new_object(self, handler: EventHandler | None = None) -> int:
        """A fresh client-side object id, with the handler of its events."""
        object_id = self._next_id
        self._next_id += 1
        if handler is not None:
            self._handlers[object_id] = handler
        return object_id

    def request(self, object_id: int, opcode: int, *arguments: int | str) -> None:
        """Send one request."""
        payload = _encode(*arguments)
        try:
            header = _HEADER.pack(object_id, (_HEADER.size + len(payload)) << 16 | opcode)
            self._socket.sendall(header + payload)
        except OSError as exc:
            raise WaylandError(f"the compositor's connection failed: {exc}") from exc

    def dispatch(self, timeout_seconds: float | None) -> bool:
        """Wait up to ``timeout_seconds`` for events and handle them; False once the compositor hung up."""
        readable, _, _ = select.select([self._socket], [], [], timeout_seconds)
        if not readable:
            return True
        try:
            chunk = self._socket.recv(READ_CHUNK_BYTES)
        except OSError:
            return False
        if not chunk:
            return False
        self._buffer += chunk
        while len(self._buffer) >= _HEADER.size:
            object_id, size_and_opcode = _HEADER.unpack_from(self._buffer)
            size = size_and_opcode >> 16
            if size < _HEADER.size or len(self._buffer) < size:
                break
            body, self._buffer = self._buffer[_HEADER.size : size], self._buffer[size:]
            handler = self._handlers.get(object_id)
            if handler is not None:
                handler(size_and_opcode & 0xFFFF, _Reader(body))
        return True

    def roundtrip(self, timeout_seconds: float = 5.0) -> None:
        """Return once the compositor has handled every request sent so far (its events handled too)."""
        done = threading.Event()
        callback = self.new_object(lambda opcode, reader: done.set() if opcode == _CALLBACK_DONE else None)
        self.request(DISPLAY_ID, _DISPLAY_SYNC, callback)
        deadline = time.monotonic() + timeout_seconds
        while not done.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaylandError("the compositor did not answer in time")
            if not self.dispatch(remaining):
                raise WaylandError("the compositor closed the connection")
        self._handlers.pop(callback, None)

    @property
    def globals(self) -> dict[str, WaylandGlobal]:
        """The first global of each interface the compositor offers."""
        first: dict[str, WaylandGlobal] = {}
        for entry in self.offered:
            first.setdefault(entry.interface, entry)
        return first

    def bind(self, interface: str, version: int, handler: EventHandler | None = None) -> int:
        """Make the (first) global ``interface`` ours at ``version`` at most; its object id."""
        offered = self.globals.get(interface)
        if offered is None:
            raise WaylandError(f"the compositor does not offer {interface}")
        return self.bind_global(offered, version, handler)

    def bind_global(self, offered: WaylandGlobal, version: int, handler: EventHandler | None = None) -> int:
        """Make ``offered`` ours at ``version`` (at most what it offers); its object id."""
        object_id = self.new_object(handler)
        self.request(self._registry, _REGISTRY_BIND, offered.name, offered.interface,
                     min(version, offered.version), object_id)
        return object_id

    def close(self) -> None:
        """Hang up (safe twice)."""
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._socket.close()

    # ------------------------------------------------------------------ core events
    def _on_display(self, opcode: int, reader: _Reader) -> None:
        if opcode == _DISPLAY_ERROR:
            object_id, code, message = reader.uint(), reader.uint(), reader.string()
            raise WaylandError(
                f"the compositor refused a request (object {object_id}, code {code}): {message}"
            )
        if opcode == _DISPLAY_DELETE_ID:
            self._handlers.pop(reader.uint(), None)

    def _on_registry(self, opcode: int, reader: _Reader) -> None:
        if opcode == _REGISTRY_GLOBAL:
            name, interface, version = reader.uint(), reader.string(), reader.uint()
            self.offered.append(WaylandGlobal(name, interface, version))


def connect(environ: Mapping[str, str] | None = None, timeout_seconds: float = 5.0) -> WaylandClient:
    """Connect to the compositor of ``environ`` (default: this process's environment) and list its globals."""
    path = socket_path(os.environ if environ is None else environ)
    if path is None:
        raise WaylandError("no Wayland session: WAYLAND_DISPLAY (and XDG_RUNTIME_DIR) are not set")
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(timeout_seconds)
    try:
        connection.connect(str(path))
    except OSError as exc:
        connection.close()
        raise WaylandError(f"the Wayland compositor at {path} cannot be reached: {exc}") from exc
    connection.settimeout(None)
    return WaylandClient(connection)


# ====================================================================== idle
class WaylandIdleWatch:
    """The idle clock of a Wayland session, from the compositor's idle notification (an IdleClock).

    The compositor says "idled" once no input came for ``NOTIFY_AFTER_MS`` and "resumed" at the next
    input; so input happened within about a second exactly while not idled. One reader thread
    handles the events; :meth:`seconds_since_last_input` is called from the scheduler thread.
    Starting counts as input, as the activity tracker's own start does.
    """

    NOTIFY_AFTER_MS = 1000

    def __init__(
        self, client: WaylandClient, *, clock: Callable[[], float] = time.monotonic,
        on_input: Callable[[], None] | None = None,
    ) -> None:
        self._client = client
        self._clock = clock
        self._on_input = on_input
        self._lock = threading.Lock()
        self._idle_since: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.protocol = next((name for name in IDLE_PROTOCOLS if name in client.globals), None)
        if self.protocol is None:
            raise WaylandError(
                "the compositor offers no idle notification (" + " or ".join(IDLE_PROTOCOLS) + ")"
            )
        if "wl_seat" not in client.globals:
            raise WaylandError("the compositor offers no seat")

    def start(self) -> None:
        """Ask for the notification and start the reader thread; returns once the compositor has it."""
        seat = self._client.bind("wl_seat", 1)
        notifier = self._client.bind(self.protocol or "", 1)
        notification = self._client.new_object(self._on_notification)
        if self.protocol == IDLE_NOTIFIER:
            self._client.request(notifier, _GET_IDLE_NOTIFICATION, notification, self.NOTIFY_AFTER_MS, seat)
        else:
            self._client.request(notifier, _GET_IDLE_TIMEOUT, notification, seat, self.NOTIFY_AFTER_MS)
        self._client.roundtrip()
        self._thread = threading.Thread(target=self._read, name="wayland-idle", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._client.dispatch(0.5):
                    logger.warning("the Wayland compositor closed the idle watch's connection")
                    return
            except WaylandError as exc:
                logger.warning("the Wayland idle watch stopped: %s", exc)
                return

    def _on_notification(self, opcode: int, reader: _Reader) -> None:
        now = self._clock()
        with self._lock:
            if opcode == _IDLED:
                # The last input was one notification delay before this event.
                self._idle_since = now - self.NOTIFY_AFTER_MS / 1000
            elif opcode == _RESUMED:
                self._idle_since = None
        if opcode == _RESUMED and self._on_input is not None:
            self._on_input()

    @property
    def running(self) -> bool:
        """Whether the reader thread is alive (the compositor still connected)."""
        return self._thread is not None and self._thread.is_alive()

    def seconds_since_last_input(self) -> float | None:
        """Seconds since the last input (0 while input came within the last second); None if disconnected."""
        if not self.running:
            return None
        with self._lock:
            idle_since = self._idle_since
        return 0.0 if idle_since is None else max(0.0, self._clock() - idle_since)

    def stop(self) -> None:
        """Stop the reader thread and hang up (safe twice)."""
        self._stop.set()
        self._client.close()
        if self._thread is not None:
            self._thread.join(2)


# ====================================================================== outputs
@dataclass(frozen=True, slots=True)
class WaylandOutput:
    """One output (monitor): its name (version 4; "" before), position and current mode in pixels."""

    name: str
    x: int
    y: int
    width: int
    height: int


def list_outputs(client: WaylandClient) -> list[WaylandOutput]:
    """Every output the compositor offers, left to right (binds each ``wl_output`` once)."""
    found: list[dict[str, int | str]] = []

    def handler_for(values: dict[str, int | str]) -> EventHandler:
        def handle(opcode: int, reader: _Reader) -> None:
            if opcode == _OUTPUT_GEOMETRY:
                values["x"], values["y"] = reader.signed(), reader.signed()
            elif opcode == _OUTPUT_MODE:
                flags, width, height = reader.uint(), reader.signed(), reader.signed()
                if flags & _MODE_CURRENT:
                    values["width"], values["height"] = width, height
            elif opcode == _OUTPUT_NAME:
                values["name"] = reader.string()

        return handle

    for entry in client.offered:
        if entry.interface == "wl_output":
            values: dict[str, int | str] = {"name": "", "x": 0, "y": 0, "width": 0, "height": 0}
            found.append(values)
            client.bind_global(entry, 4, handler_for(values))
    client.roundtrip()
    outputs = [
        WaylandOutput(str(values["name"]), int(values["x"]), int(values["y"]), int(values["width"]),
                      int(values["height"]))
        for values in found
    ]
    return sorted(outputs, key=lambda output: (output.x, output.y, output.name))
