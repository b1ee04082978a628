"""EvdevInputSource over stand-in devices: python-evdev's own event writer and reader on socket pairs.

This machine has no /dev/input devices and no /dev/uinput, so no test opens a real input device:
each stand-in pushes real ``evdev.InputEvent`` structs in at one end of a socket pair with python-evdev's
``write_event`` and the source reads them out with python-evdev's C reader, waiting on the real file
descriptors with epoll. Permissions are checked for real as an unprivileged user (setpriv) on device
nodes made with mknod.
"""

from __future__ import annotations

import errno
import gc
import json
import logging
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from evdev import InputEvent
from evdev import ecodes as e
from evdev.device import AbsInfo
from evdev.eventio import EventIO
from support import wait_until

from activity_tracker import ActivityTracker
from agent.adapters import evdev_events
from agent.adapters.evdev_events import DeviceEvents, device_kinds
from agent.adapters.evdev_input import (
    MESSAGE_COUNTING,
    MESSAGE_NO_ACCESS,
    EvdevDeviceOpener,
    EvdevInputSource,
    InputDeviceHandle,
    evdev_access,
)
from contract.errors import VinovaError

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534
INPUT_GID = 4242  # stands for the "input" group
FAST_RESCAN_SECONDS = 0.05

Caps = dict[int, list[Any]]

KEYBOARD: Caps = {e.EV_SYN: [0], e.EV_KEY: [*range(1, 84), e.KEY_F23], e.EV_MSC: [e.MSC_SCAN],
                  e.EV_LED: [0, 1]}
MOUSE: Caps = {e.EV_KEY: [e.BTN_LEFT, e.BTN_RIGHT, e.BTN_MIDDLE],
               e.EV_REL: [e.REL_X, e.REL_Y, e.REL_HWHEEL, e.REL_WHEEL, e.REL_WHEEL_HI_RES]}
# AbsInfo(value, min, max, fuzz, flat, resolution in units per mm)
TOUCHPAD: Caps = {e.EV_KEY: [e.BTN_LEFT, e.BTN_TOOL_FINGER, e.BTN_TOUCH],
                  e.EV_ABS: [(e.ABS_X, AbsInfo(0, 0, 1200, 0, 0, 12)),
                             (e.ABS_Y, AbsInfo(0, 0, 800, 0, 0, 12))]}
TOUCHSCREEN: Caps = {e.EV_KEY: [e.BTN_TOUCH],
                     e.EV_ABS: [(e.ABS_X, AbsInfo(0, 0, 4095, 0, 0, 0)),
                                (e.ABS_Y, AbsInfo(0, 0, 4095, 0, 0, 0))]}
POWER_BUTTON: Caps = {e.EV_KEY: [e.KEY_POWER]}
LID_SWITCH: Caps = {e.EV_SW: [e.SW_LID]}


def event(kind: int, code: int, value: int) -> InputEvent:
    return InputEvent(0, 0, kind, code, value)


def key(code: int, value: int) -> InputEvent:
    return event(e.EV_KEY, code, value)


def rel(code: int, value: int) -> InputEvent:
    return event(e.EV_REL, code, value)


def absolute(code: int, value: int) -> InputEvent:
    return event(e.EV_ABS, code, value)


SYN = event(e.EV_SYN, e.SYN_REPORT, 0)


class _Pen(EventIO):
    """python-evdev's writer on the far end of the socket pair (a socket is O_RDWR, as write_event wants)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.path = "stand-in"


class SocketDevice(EventIO):
    """An event device stand-in: the kernel's side is a socket pair, the reading is python-evdev's own."""

    def __init__(self, capabilities: dict[int, list[Any]], eof_is_enodev: bool = True) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        # python-evdev's write holds the GIL: a blocking write into a full socket would starve the reader.
        self._writer.setblocking(False)
        self.fd = self._reader.fileno()
        self._pen = _Pen(self._writer.fileno())
        self._capabilities = capabilities
        self._eof_is_enodev = eof_is_enodev
        self.closed = False

    def read(self) -> list[InputEvent]:  # type: ignore[override]
        events = list(super().read())
        if not events and self._eof_is_enodev:  # what the kernel answers once the device is unplugged
            raise OSError(errno.ENODEV, "No such device")
        return events

    def capabilities(self) -> dict[int, list[Any]]:
        return self._capabilities

    def close(self) -> None:
        self._reader.close()
        self.closed = True

    def send(self, *events: InputEvent) -> None:
        for item in events:
            self._pen.write_event(item)

    def unplug(self) -> None:
        self._writer.close()

    def discard(self) -> None:
        self._reader.close()
        self._writer.close()


class StandInOpener:
    """A /dev/input whose entries the test adds and removes; an OSError entry is a device it may not read."""

    def __init__(self) -> None:
        self.entries: dict[str, SocketDevice | OSError] = {}
        self._lock = threading.Lock()

    def put(self, path: str, entry: SocketDevice | OSError) -> None:
        with self._lock:
            self.entries[path] = entry

    def remove(self, path: str) -> None:
        with self._lock:
            del self.entries[path]

    def list_paths(self) -> list[str]:
        with self._lock:
            return sorted(self.entries)

    def open(self, path: str) -> InputDeviceHandle:
        with self._lock:
            entry = self.entries[path]
        if isinstance(entry, OSError):
            raise entry
        return entry


class RecordingSink:
    """Records every call with whatever arguments it came with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._lock = threading.Lock()

    def _record(self, name: str, arguments: tuple[Any, ...]) -> None:
        with self._lock:
            self.calls.append((name, arguments))

    def on_key_press(self, *arguments: Any) -> None:
        self._record("on_key_press", arguments)

    def on_click(self, *arguments: Any) -> None:
        self._record("on_click", arguments)

    def on_scroll(self, *arguments: Any) -> None:
        self._record("on_scroll", arguments)

    def on_move(self, *arguments: Any) -> None:
        self._record("on_move", arguments)

    def on_uncounted_input(self, *arguments: Any) -> None:
        self._record("on_uncounted_input", arguments)

    def named(self, name: str) -> list[tuple[Any, ...]]:
        with self._lock:
            return [arguments for called, arguments in self.calls if called == name]


@pytest.fixture
def make_device() -> Iterator[Callable[..., SocketDevice]]:
    made: list[SocketDevice] = []

    def make(capabilities: dict[int, list[Any]], eof_is_enodev: bool = True) -> SocketDevice:
        device = SocketDevice(capabilities, eof_is_enodev)
        made.append(device)
        return device

    yield make
    for device in made:
        device.discard()


@pytest.fixture
def make_source() -> Iterator[Callable[[StandInOpener], EvdevInputSource]]:
    made: list[EvdevInputSource] = []

    def make(opener: StandInOpener) -> EvdevInputSource:
        source = EvdevInputSource(opener, rescan_seconds=FAST_RESCAN_SECONDS)
        made.append(source)
        return source

    yield make
    for source in made:
        source.stop()


def started(
    make_source: Callable[[StandInOpener], EvdevInputSource], *devices: tuple[str, SocketDevice | OSError]
) -> tuple[EvdevInputSource, StandInOpener, RecordingSink]:
    opener = StandInOpener()
    for path, entry in devices:
        opener.put(path, entry)
    source, sink = make_source(opener), RecordingSink()
    source.start(sink)
    return source, opener, sink


def test_event_codes_are_the_kernels_as_python_evdev_names_them() -> None:
    for name in ("EV_SYN", "EV_KEY", "EV_REL", "EV_ABS", "SYN_REPORT", "SYN_DROPPED", "REL_X", "REL_Y",
                 "REL_HWHEEL", "REL_WHEEL", "ABS_X", "ABS_Y", "KEY_ESC", "KEY_KPDOT", "BTN_MISC", "BTN_LEFT",
                 "BTN_TASK", "BTN_TOUCH", "KEY_OK", "BTN_TRIGGER_HAPPY"):
        assert getattr(evdev_events, name) == getattr(e, name), name


def test_device_kinds_tell_keyboards_and_pointers_from_buttons_and_switches() -> None:
    assert device_kinds(KEYBOARD) == {"keyboard"}
    assert device_kinds(MOUSE) == {"pointer"}
    assert device_kinds(TOUCHPAD) == {"pointer"}
    assert device_kinds(TOUCHSCREEN) == {"pointer"}
    assert device_kinds({**KEYBOARD, **MOUSE, e.EV_KEY: KEYBOARD[e.EV_KEY] + MOUSE[e.EV_KEY]}) == {
        "keyboard", "pointer"}
    assert device_kinds(POWER_BUTTON) == set()
    assert device_kinds(LID_SWITCH) == set()
    assert device_kinds({e.EV_KEY: [e.BTN_LEFT]}) == set()  # buttons that move nothing


def test_key_presses_count_but_repeats_and_releases_do_not(make_source: Any, make_device: Any) -> None:
    keyboard = make_device(KEYBOARD)
    source, _opener, sink = started(make_source, ("/dev/input/event0", keyboard))
    keyboard.send(key(e.KEY_Q, 1), SYN, *[key(e.KEY_Q, 2), SYN] * 5, key(e.KEY_Q, 0), SYN,
                  key(e.KEY_W, 1), SYN, key(e.KEY_W, 0), SYN)
    keyboard.send(key(e.KEY_E, 1), SYN)  # the last one: everything before it has been read once it shows
    wait_until(lambda: len(sink.named("on_key_press")) >= 3, message="three key presses")
    keyboard.send(key(e.KEY_E, 0), SYN, key(e.KEY_R, 1), SYN)
    wait_until(lambda: len(sink.named("on_key_press")) >= 4, message="the fourth key press")
    assert sink.calls == [("on_key_press", ())] * 4
    assert source.running


def test_the_sink_hears_only_that_a_key_went_down_never_which(
    make_source: Any, make_device: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    keyboard = make_device(KEYBOARD)
    source, _opener, sink = started(make_source, ("/dev/input/event7", keyboard))
    keyboard.send(*[key(e.KEY_F23, 1), key(e.KEY_F23, 0), SYN] * 3)
    wait_until(lambda: len(sink.calls) >= 3, message="three key presses")
    assert sink.calls == [("on_key_press", ())] * 3  # no argument: the code is not handed on
    kept = [value for item in gc.get_objects() if isinstance(item, DeviceEvents)
            for value in (getattr(item, slot) for slot in DeviceEvents.__slots__)]
    assert kept, "the source's per-device state"
    flattened = [part for value in kept for part in (value if isinstance(value, list) else [value])]
    assert e.KEY_F23 not in flattened
    assert e.KEY_F23 not in vars(source).values()
    source.stop()
    text = caplog.text
    assert "KEY_F23" not in text and str(e.KEY_F23) not in text
    assert "/dev/input/event7" in text  # the log did hear about the device


def test_mouse_buttons_wheel_and_motion_become_clicks_scrolls_and_travel(
    make_source: Any, make_device: Any
) -> None:
    mouse = make_device(MOUSE)
    _source, _opener, sink = started(make_source, ("/dev/input/event1", mouse))
    mouse.send(key(e.BTN_LEFT, 1), SYN, key(e.BTN_LEFT, 0), SYN,
               key(e.BTN_RIGHT, 1), key(e.BTN_RIGHT, 0), SYN,
               rel(e.REL_WHEEL, -2), rel(e.REL_WHEEL_HI_RES, -240), SYN, rel(e.REL_HWHEEL, 1), SYN,
               rel(e.REL_X, 3), rel(e.REL_Y, 4), SYN, rel(e.REL_X, 6), SYN, rel(e.REL_Y, 8), SYN,
               rel(e.REL_X, -9), rel(e.REL_Y, -12), SYN)
    wait_until(lambda: len(sink.named("on_move")) >= 4, message="four moves")
    assert sink.named("on_click") == [(), ()]
    assert sink.named("on_scroll") == [(2,), (1,)]  # whole notches only, as steps >= 1
    # One virtual position made of the summed motion, reported once per frame.
    assert sink.named("on_move") == [(3, 4), (9, 4), (9, 12), (0, 0)]


def test_counts_from_the_devices_add_up_in_a_real_activity_tracker(
    make_source: Any, make_device: Any
) -> None:
    now = datetime(2026, 11, 25, 18, 0, 10, tzinfo=UTC).timestamp()
    tracker = ActivityTracker(idle_threshold_seconds=300, timezone_name="UTC", wall_clock=lambda: now)
    keyboard, mouse = make_device(KEYBOARD), make_device(MOUSE)
    opener = StandInOpener()
    opener.put("/dev/input/event0", keyboard)
    opener.put("/dev/input/event1", mouse)
    source = make_source(opener)
    source.start(tracker)
    keyboard.send(key(e.KEY_H, 1), key(e.KEY_H, 2), key(e.KEY_H, 0), key(e.KEY_I, 1), key(e.KEY_I, 0), SYN)
    mouse.send(rel(e.REL_X, 1), SYN, rel(e.REL_X, 3), rel(e.REL_Y, 4), SYN, key(e.BTN_LEFT, 1), SYN,
               rel(e.REL_WHEEL, 3), SYN)
    wait_until(lambda: tracker.today_totals(now=now).scrolls == 3, message="the counts")
    totals = tracker.today_totals(now=now)
    assert (totals.keys, totals.clicks, totals.scrolls, totals.mouse_px) == (2, 1, 3, 5)


def test_touchpad_travel_counts_within_one_touch_only(make_source: Any, make_device: Any) -> None:
    touchpad = make_device(TOUCHPAD)
    _source, _opener, sink = started(make_source, ("/dev/input/event2", touchpad))
    touchpad.send(absolute(e.ABS_X, 10), SYN,  # a hover before the touch: not travel
                  key(e.BTN_TOUCH, 1), key(e.BTN_TOOL_FINGER, 1), absolute(e.ABS_X, 100),
                  absolute(e.ABS_Y, 100), SYN,
                  absolute(e.ABS_X, 112), SYN,  # 1 mm at 12 units/mm: 1000/25.4 mouse counts
                  key(e.BTN_TOUCH, 0), key(e.BTN_TOOL_FINGER, 0), SYN,
                  key(e.BTN_TOUCH, 1), absolute(e.ABS_X, 600), absolute(e.ABS_Y, 700), SYN,  # elsewhere
                  absolute(e.ABS_Y, 676), SYN,  # 2 mm up
                  key(e.BTN_TOUCH, 0), SYN, key(e.BTN_LEFT, 1), SYN)
    wait_until(lambda: sink.named("on_click"), message="the physical click")
    assert sink.named("on_move") == [(39, 0), (39, -79)]
    assert sink.named("on_click") == [()]  # touching the pad is not a click, pressing it is


def test_a_touchscreen_touch_is_a_click(make_source: Any, make_device: Any) -> None:
    screen = make_device(TOUCHSCREEN)
    _source, _opener, sink = started(make_source, ("/dev/input/event3", screen))
    screen.send(key(e.BTN_TOUCH, 1), absolute(e.ABS_X, 50), absolute(e.ABS_Y, 50), SYN,
                absolute(e.ABS_X, 80), absolute(e.ABS_Y, 90), SYN, key(e.BTN_TOUCH, 0), SYN)
    wait_until(lambda: sink.named("on_move"), message="the touch's travel")
    assert sink.named("on_click") == [()]
    assert sink.named("on_move") == [(30, 40)]


def test_devices_plugged_in_while_running_are_opened_and_unplugged_ones_dropped(
    make_source: Any, make_device: Any
) -> None:
    keyboard, mouse = make_device(KEYBOARD), make_device(MOUSE)
    source, opener, sink = started(make_source, ("/dev/input/event0", keyboard))
    assert source.open_paths == ("/dev/input/event0",)
    opener.put("/dev/input/event5", mouse)
    wait_until(lambda: "/dev/input/event5" in source.open_paths, message="the new mouse to be opened")
    mouse.send(key(e.BTN_LEFT, 1), SYN)
    wait_until(lambda: sink.named("on_click"), message="a click from the new mouse")
    keyboard.unplug()  # its reads now fail with ENODEV, its node is still listed
    wait_until(lambda: keyboard.closed, message="the unplugged keyboard to be closed")
    assert source.running
    mouse.send(key(e.BTN_LEFT, 1), SYN)
    wait_until(lambda: len(sink.named("on_click")) == 2, message="the mouse still counted")
    assert source.open_paths == ("/dev/input/event5",)
    assert sink.named("on_key_press") == []


def test_a_device_whose_node_is_removed_is_closed(make_source: Any, make_device: Any) -> None:
    mouse = make_device(MOUSE)
    source, opener, _sink = started(make_source, ("/dev/input/event1", mouse))
    opener.remove("/dev/input/event1")
    wait_until(lambda: mouse.closed, message="the removed mouse to be closed")
    assert source.running and source.open_paths == ()


def test_a_device_at_end_of_file_is_dropped_without_stopping_the_reader(
    make_source: Any, make_device: Any
) -> None:
    odd, mouse = make_device(KEYBOARD, eof_is_enodev=False), make_device(MOUSE)
    source, _opener, sink = started(make_source, ("/dev/input/event0", odd), ("/dev/input/event1", mouse))
    odd.unplug()
    wait_until(lambda: odd.closed, message="the device at end of file to be closed")
    mouse.send(key(e.BTN_LEFT, 1), SYN)
    wait_until(lambda: sink.named("on_click"), message="the other device still read")
    assert source.running


def test_unreadable_and_non_input_devices_are_passed_over(make_source: Any, make_device: Any) -> None:
    button, keyboard = make_device(POWER_BUTTON), make_device(KEYBOARD)
    refused = PermissionError(errno.EACCES, "Permission denied")
    source, _opener, sink = started(
        make_source, ("/dev/input/event0", refused), ("/dev/input/event1", button),
        ("/dev/input/event2", keyboard),
    )
    assert source.open_paths == ("/dev/input/event2",)
    assert button.closed
    keyboard.send(key(e.KEY_A, 1), SYN)
    wait_until(lambda: sink.named("on_key_press"), message="the readable keyboard counted")
    assert source.running


def test_start_fails_clearly_when_the_input_folder_is_missing(tmp_path: Path) -> None:
    source = EvdevInputSource(EvdevDeviceOpener(str(tmp_path / "input")))
    with pytest.raises(VinovaError, match="input devices cannot be listed"):
        source.start(RecordingSink())
    assert not source.running
    source.stop()


def _make_node(path: Path, mode: int, group: int = 0) -> None:
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(13, 64))  # the input major; no device behind it
    except PermissionError:
        pytest.skip("creating device nodes is not permitted here")
    os.chown(path, 0, group)
    path.chmod(mode)


def test_the_real_opener_passes_over_a_node_with_no_device_behind_it(tmp_path: Path) -> None:
    _make_node(tmp_path / "event0", 0o600)
    (tmp_path / "mouse0").write_text("")  # not an event device: never opened
    opener = EvdevDeviceOpener(str(tmp_path))
    assert opener.list_paths() == [str(tmp_path / "event0")]
    with pytest.raises(OSError, match="No such device"):
        opener.open(str(tmp_path / "event0"))  # python-evdev's InputDevice, ENXIO from the kernel
    source = EvdevInputSource(opener, rescan_seconds=FAST_RESCAN_SECONDS)
    source.start(RecordingSink())
    try:
        assert source.running and source.open_paths == ()
    finally:
        source.stop()


def test_evdev_access_says_what_is_missing(tmp_path: Path) -> None:
    assert evdev_access(str(tmp_path / "none")) == (
        False, f"Keys and clicks cannot be counted: this computer has no {tmp_path / 'none'}")
    assert evdev_access(str(tmp_path)) == (
        False, f"Keys and clicks cannot be counted: there are no input devices in {tmp_path}")
    for name in ("event0", "event1", "mice"):
        (tmp_path / name).write_text("")
    asked: list[str] = []

    def refused(path: str) -> bool:
        asked.append(path)
        return False

    assert evdev_access(str(tmp_path), readable=refused) == (False, MESSAGE_NO_ACCESS)
    assert asked == [str(tmp_path / "event0"), str(tmp_path / "event1")]
    assert evdev_access(str(tmp_path), readable=lambda path: path.endswith("event1")) == (
        True, MESSAGE_COUNTING)
    assert "sudo usermod -aG input $USER" in MESSAGE_NO_ACCESS
    assert "sign out and in again" in MESSAGE_NO_ACCESS
    # Regular files are not devices, whoever may read them.
    assert evdev_access(str(tmp_path))[0] is False


def _access_as_nobody(input_dir: str, *groups: int) -> tuple[bool, str]:
    group_option = f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups"
    code = "import json, sys; from agent.adapters.evdev_input import evdev_access; " \
           "print(json.dumps(evdev_access(sys.argv[1])))"
    result = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", group_option, sys.executable, "-c", code,
         input_dir], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)},
    )
    readable, message = json.loads(result.stdout)
    return bool(readable), str(message)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_evdev_access_as_an_unprivileged_user_follows_the_input_group() -> None:
    folder = Path(tempfile.mkdtemp(prefix="vinova-input-"))
    try:
        folder.chmod(0o755)
        _make_node(folder / "event0", 0o000)
        assert _access_as_nobody(str(folder)) == (False, MESSAGE_NO_ACCESS)
        _make_node(folder / "event1", 0o640, group=INPUT_GID)  # like udev's nodes: root:input rw-r-----
        assert _access_as_nobody(str(folder)) == (False, MESSAGE_NO_ACCESS)
        assert _access_as_nobody(str(folder), INPUT_GID) == (True, MESSAGE_COUNTING)
    finally:
        shutil.rmtree(folder)


def test_stop_ends_the_reader_and_closes_every_device(make_device: Any) -> None:
    keyboard, mouse = make_device(KEYBOARD), make_device(MOUSE)
    opener = StandInOpener()
    opener.put("/dev/input/event0", keyboard)
    opener.put("/dev/input/event1", mouse)
    source = EvdevInputSource(opener, rescan_seconds=600)  # only the stop pipe can wake the reader in time
    source.start(RecordingSink())
    reader = next(thread for thread in threading.enumerate() if thread.name == "evdev-input")
    source.stop()  # joins for at most 2 s: a reader still alive afterwards would have missed the bound
    assert not reader.is_alive()
    assert keyboard.closed and mouse.closed
    assert not source.running and source.open_paths == ()
    source.stop()  # a second stop is harmless
    EvdevInputSource(StandInOpener()).stop()  # and so is one before start


def test_running_is_false_once_the_reader_died_and_restart_revives_it(
    make_source: Any, make_device: Any, caplog: pytest.LogCaptureFixture
) -> None:
    mouse = make_device(MOUSE)
    opener = StandInOpener()
    opener.put("/dev/input/event1", mouse)
    source = make_source(opener)

    class BrokenSink(RecordingSink):
        def on_click(self, *arguments: Any) -> None:
            raise RuntimeError("a sink that fails")

    source.start(BrokenSink())
    mouse.send(key(e.BTN_LEFT, 1))  # one event only: the reader may close the device as soon as it is read
    wait_until(lambda: not source.running, message="the reader to die")
    assert "the input device reader stopped" in caplog.text
    assert mouse.closed
    fresh_mouse, sink = make_device(MOUSE), RecordingSink()
    opener.put("/dev/input/event1", fresh_mouse)
    source.restart(sink)
    assert source.running and source.open_paths == ("/dev/input/event1",)
    fresh_mouse.send(key(e.BTN_LEFT, 1), SYN)
    wait_until(lambda: sink.named("on_click"), message="a click after the restart")
