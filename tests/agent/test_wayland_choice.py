"""Adapters chosen for a Wayland session (fake environ), the uncounted input source, the screenshot state."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from agent.adapters.inputs import choose_input_source, choose_lock_state
from agent.adapters.monitors import MonitorImage
from agent.adapters.screen import X11MonitorGrabber, choose_monitor_grabber
from agent.adapters.session import detect_session
from agent.adapters.wayland_choice import (
    MODE_EVDEV,
    MODE_UNCOUNTED,
    InputRelay,
    UncountedInputSource,
    counting_words,
    wayland_input_source,
)
from agent.adapters.wayland_screen import GrimMonitorGrabber
from agent.desktop_notes import PERMISSION_AHEAD, SCREENSHOTS_BLOCKED, DesktopNotes, GuardedGrabber
from agent.engine import AgentStatus
from agent.outbox import Outbox
from agent.seams import ScreenshotsBlocked
from agent.window.formatting import count_number, count_text, describe_status
from contract.activity import MinuteSample
from contract.config_schema import AgentConfig
from contract.errors import CaptureFailed, VinovaError

SWAY = {"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-1", "XDG_CURRENT_DESKTOP": "sway",
        "XDG_RUNTIME_DIR": "/nonexistent-runtime"}
X11 = {"XDG_SESSION_TYPE": "x11", "DISPLAY": ":99"}


class FakeIdleClock:
    """Answers the readings it was given, one per call."""

    def __init__(self, *readings: float | None) -> None:
        self.readings = list(readings)

    def seconds_since_last_input(self) -> float | None:
        return self.readings.pop(0)


class RecordingSink:
    """An InputSink that records which calls it got."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_key_press(self) -> None:
        self.calls.append("key")

    def on_click(self) -> None:
        self.calls.append("click")

    def on_scroll(self, steps: int) -> None:
        self.calls.append("scroll")

    def on_move(self, x: int, y: int) -> None:
        self.calls.append("move")

    def on_uncounted_input(self) -> None:
        self.calls.append("uncounted")


def test_wlroots_screenshots_come_from_grim_and_x11_stays_x11() -> None:
    assert isinstance(choose_monitor_grabber(environ=SWAY), GrimMonitorGrabber)
    assert isinstance(choose_monitor_grabber(environ=X11), X11MonitorGrabber)


def test_wayland_without_readable_input_devices_is_uncounted_from_the_idle_clock() -> None:
    source = wayland_input_source(FakeIdleClock(), access=lambda: (False, "no access to /dev/input"))
    assert isinstance(source, UncountedInputSource)
    assert source.counts_input is False
    assert counting_words(source, detect_session(SWAY)) == MODE_UNCOUNTED
    assert "input group" in MODE_UNCOUNTED


def test_wayland_with_readable_input_devices_counts_through_evdev() -> None:
    from agent.adapters.evdev_input import EvdevInputSource

    source = wayland_input_source(None, access=lambda: (True, "counted"))
    assert isinstance(source, EvdevInputSource)
    assert counting_words(source, detect_session(SWAY)) == MODE_EVDEV


def test_wayland_with_neither_evdev_nor_an_idle_signal_says_why() -> None:
    with pytest.raises(VinovaError, match="no idle signal"):
        wayland_input_source(None, access=lambda: (False, "no access"))


def test_the_chooser_sends_a_wayland_session_to_the_wayland_adapters() -> None:
    # This machine has no /dev/input, so the Wayland chooser ends with the uncounted source.
    source = choose_input_source(FakeIdleClock(), environ=SWAY)
    assert getattr(source, "counts_input", True) is False


def test_no_lock_reader_answers_on_a_wayland_session_without_buses() -> None:
    environ = dict(SWAY, DBUS_SYSTEM_BUS_ADDRESS="unix:path=/nonexistent/system_bus")
    assert choose_lock_state(None, environ) is None


def test_a_falling_or_fresh_idle_reading_is_input_and_a_rising_one_is_not() -> None:
    sink = RecordingSink()
    source = UncountedInputSource(FakeIdleClock(5.0, 6.0, 0.2, 3.0, 2.0, None, 9.0), poll_seconds=0.5)
    seen = [source.poll_once(sink) for _ in range(7)]
    assert seen == [False, False, True, False, True, False, False]
    assert sink.calls == ["uncounted", "uncounted"]


def test_the_relay_forwards_the_compositors_input_only_while_started() -> None:
    relay = InputRelay()
    sink = RecordingSink()
    source = UncountedInputSource(FakeIdleClock(*[9.0] * 50), relay, poll_seconds=0.05)
    relay()
    source.start(sink)
    try:
        relay()
        assert source.running
    finally:
        source.stop()
    relay()
    assert sink.calls == ["uncounted"]
    assert not source.running


def _image() -> list[MonitorImage]:
    return [MonitorImage(0, Image.new("RGB", (4, 3), "white"))]


class PortalLike:
    """A grabber that asks the person (asks_permission) and refuses the first time."""

    asks_permission = True

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> list[MonitorImage]:
        self.calls += 1
        if self.calls == 1:
            raise ScreenshotsBlocked("the person refused the screenshot")
        return _image()


def test_a_refused_screenshot_is_a_state_then_clears_at_the_next_allowed_capture() -> None:
    grabber = GuardedGrabber(PortalLike())
    notes = DesktopNotes(MODE_UNCOUNTED, grabber)
    assert notes.screenshots_note() == PERMISSION_AHEAD
    with pytest.raises(CaptureFailed, match="blocked by the desktop"):
        grabber()
    assert notes.screenshots_note() == SCREENSHOTS_BLOCKED
    assert grabber.blocked == "the person refused the screenshot"
    assert grabber()[0].image.size == (4, 3)
    assert notes.screenshots_note() == ""
    assert grabber.blocked is None


def test_the_status_badge_says_screenshots_are_blocked() -> None:
    status = AgentStatus(state="tracking", offline=False, samples_waiting=0, config=AgentConfig(),
                         config_changed_at=None, battery=None, session_expired=False,
                         screenshots_note=SCREENSHOTS_BLOCKED)
    assert describe_status(status, None, paused=False) == (
        "tracking", "Tracking (screenshots blocked by the desktop)"
    )


def test_counts_not_counted_show_a_dash_never_zero() -> None:
    assert count_number(None) == "—"
    assert count_text(None, "key") == "— keys"
    assert count_number(0) == "0"
    assert count_text(1200, "key") == "1,200 keys"


def test_the_outbox_keeps_null_counts_as_null(tmp_path: Path) -> None:
    sample = MinuteSample(
        minute_start=datetime(2026, 11, 25, 18, 0, tzinfo=UTC), active_seconds=12, keys=None, clicks=None,
        scrolls=None, mouse_px=None, state="tracking", timezone="UTC", utc_offset_minutes=0,
    )
    outbox = Outbox(tmp_path)
    try:
        outbox.add("ann", [sample])
        (stored,) = outbox.pending("ann")
    finally:
        outbox.close()
    assert [stored[field] for field in ("keys", "clicks", "scrolls", "mouse_px")] == [None] * 4
    assert stored["active_seconds"] == 12


def test_the_counting_line_names_x11_only_on_x11() -> None:
    from agent.adapters.inputs import PynputInputSource

    assert counting_words(PynputInputSource(), detect_session(X11)) == "Keys and clicks are counted (X11)"
    assert counting_words(PynputInputSource(), detect_session({})) == "Keys and clicks are counted"
    assert counting_words(None, detect_session(SWAY)).startswith("Keyboard and mouse activity cannot")


@pytest.mark.parametrize(
    ("desktop", "first"),
    [("GNOME", "dbus"), ("KDE", "protocol"), ("sway", "protocol")],
)
def test_each_desktop_asks_its_idle_clocks_in_its_own_order(
    monkeypatch: pytest.MonkeyPatch, desktop: str, first: str
) -> None:
    """GNOME asks Mutter first; KDE the Wayland protocol first (its D-Bus idle time reads 0 on Wayland)."""
    from agent.adapters import wayland_choice

    asked: list[str] = []
    monkeypatch.setattr(wayland_choice, "_dbus_idle_clock", lambda session, environ: asked.append("dbus"))
    monkeypatch.setattr(wayland_choice, "_protocol_idle_clock", lambda environ: asked.append("protocol"))
    environ = {**SWAY, "XDG_CURRENT_DESKTOP": desktop}
    assert wayland_choice.wayland_idle_clock(detect_session(environ), environ) is None
    other = {"dbus": "protocol", "protocol": "dbus"}[first]
    assert asked == ([first] if desktop == "sway" else [first, other])  # the second only when the first fails
