"""What the kernel's input events mean for the counts: key, click, scroll, pointer travel.

Which key went down is never kept: a key event's code decides only "key or button" here and is
dropped with the event. Pointer travel: a mouse reports relative motion and Wayland gives no pointer
position, so :class:`DeviceEvents` adds each device's motion to one virtual position (shared by every
device) and reports that to ``on_move``; ``mouse_px`` then measures relative travel in device counts
(about a pixel each at the desktop's default speed), not distance on the screen. A touchpad counts
one finger's travel from touch-down to lift-off, scaled to mouse counts (libinput's convention: 1000
counts per inch); lifting the finger and putting it down elsewhere is not travel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from agent.seams import InputSink

# Event types and codes from linux/input-event-codes.h (kernel ABI; the tests compare them with
# python-evdev's ecodes). Kept here so that importing this module loads no platform library.
EV_SYN, EV_KEY, EV_REL, EV_ABS = 0, 1, 2, 3
SYN_REPORT, SYN_DROPPED = 0, 3
REL_X, REL_Y, REL_HWHEEL, REL_WHEEL = 0, 1, 6, 8
ABS_X, ABS_Y = 0, 1
KEY_ESC, KEY_KPDOT = 1, 83  # the typing keys, from Esc to the keypad's dot (KEY_A is 30)
BTN_MISC, BTN_LEFT, BTN_TASK = 0x100, 0x110, 0x117
BTN_TOUCH = 0x14A
KEY_OK, BTN_TRIGGER_HAPPY = 0x160, 0x2C0  # the keys after the button block; the joystick buttons
KEY_DOWN, KEY_REPEAT = 1, 2  # EV_KEY values (0 is a release)
TOUCHPAD_COUNTS_PER_MM = 1000 / 25.4

Capabilities = Mapping[int, Sequence[Any]]


class InputEventLike(Protocol):
    """One input event as python-evdev's ``InputEvent`` gives it."""

    type: int
    code: int
    value: int


class DeviceEvents:
    """What one keyboard's or pointer's events mean; used on the reader thread only."""

    __slots__ = ("abs_scale", "last_abs", "pending", "touch_is_click", "touch_tracked", "touching")

    def __init__(self, capabilities: Capabilities) -> None:
        buttons = set(_codes(capabilities, EV_KEY))
        # A touchscreen or pen has no button: touching it is its click. A touchpad's taps are not
        # counted; its physical click comes as BTN_LEFT.
        self.touch_is_click = BTN_TOUCH in buttons and BTN_LEFT not in buttons
        self.touch_tracked = BTN_TOUCH in buttons  # absolute travel counts only while touching
        self.touching = False
        self.abs_scale = [_abs_scale(capabilities, ABS_X), _abs_scale(capabilities, ABS_Y)]
        self.last_abs: list[int | None] = [None, None]
        self.pending = [0.0, 0.0]

    def handle_event(self, event: InputEventLike, sink: InputSink, pointer: list[float]) -> None:
        """Turn one event into sink calls; a key's code is looked at here and nowhere else."""
        kind = event.type
        if kind == EV_KEY:
            if event.value == KEY_DOWN:
                self._button_down(event.code, sink)
            elif event.code == BTN_TOUCH and event.value == 0:
                self.touching = False
                self.last_abs = [None, None]
        elif kind == EV_REL:
            if event.code in (REL_X, REL_Y):
                self.pending[event.code - REL_X] += event.value
            elif event.code in (REL_WHEEL, REL_HWHEEL) and event.value:
                sink.on_scroll(abs(event.value))
        elif kind == EV_ABS:
            if event.code in (ABS_X, ABS_Y) and (self.touching or not self.touch_tracked):
                axis = event.code - ABS_X
                last = self.last_abs[axis]
                if last is not None:
                    self.pending[axis] += (event.value - last) * self.abs_scale[axis]
                self.last_abs[axis] = event.value
        elif kind == EV_SYN:
            if event.code == SYN_REPORT and (self.pending[0] or self.pending[1]):
                pointer[0] += self.pending[0]
                pointer[1] += self.pending[1]
                self.pending = [0.0, 0.0]
                sink.on_move(round(pointer[0]), round(pointer[1]))
            elif event.code == SYN_DROPPED:  # the kernel's queue overflowed: positions are stale
                self.pending = [0.0, 0.0]
                self.last_abs = [None, None]

    def _button_down(self, code: int, sink: InputSink) -> None:
        if code < BTN_MISC or KEY_OK <= code < BTN_TRIGGER_HAPPY:
            sink.on_key_press()
        elif BTN_LEFT <= code <= BTN_TASK:
            sink.on_click()
        elif code == BTN_TOUCH:
            self.touching = True
            self.last_abs = [None, None]
            if self.touch_is_click:
                sink.on_click()


def _codes(capabilities: Capabilities, event_type: int) -> list[int]:
    """The codes of one event type, without python-evdev's AbsInfo companions."""
    return [item[0] if isinstance(item, tuple) else int(item) for item in capabilities.get(event_type, ())]


def _abs_scale(capabilities: Capabilities, axis: int) -> float:
    """Mouse counts per unit of an absolute axis: from its resolution (units per mm) when it has one."""
    for item in capabilities.get(EV_ABS, ()):
        if isinstance(item, tuple) and item[0] == axis:
            resolution = int(getattr(item[1], "resolution", 0) or 0)
            return TOUCHPAD_COUNTS_PER_MM / resolution if resolution > 0 else 1.0
    return 1.0


def device_kinds(capabilities: Capabilities) -> set[str]:
    """"keyboard" and/or "pointer" for a device's capabilities; empty for power buttons, switches, …"""
    keys = set(_codes(capabilities, EV_KEY))
    kinds = set()
    if any(KEY_ESC <= code <= KEY_KPDOT for code in keys):
        kinds.add("keyboard")  # typing keys: a power button or a media-key bar is not a keyboard
    if (BTN_LEFT in keys or BTN_TOUCH in keys) and (EV_REL in capabilities or EV_ABS in capabilities):
        kinds.add("pointer")
    return kinds

