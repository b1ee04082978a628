"""Idle on a real X server: the XScreenSaver idle counter, and the tracker going idle and back."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time

import pytest
from conftest import XDisplay
from support import wait_until

from activity_tracker import ActivityTracker
from agent.adapters.inputs import XScreenSaverIdleClock, choose_idle_clock, choose_input_source
from contract.activity import add_counts

pytestmark = pytest.mark.integration

if shutil.which("xdotool") is None:
    pytest.skip("xdotool is not installed (make test installs it with apt)", allow_module_level=True)


def xdotool(display: XDisplay, *arguments: str) -> None:
    subprocess.run(["xdotool", *arguments], env=display.env(), check=True, timeout=30)


def test_x_idle_counter_grows_and_resets_after_input(xvfb: XDisplay) -> None:
    clock = choose_idle_clock()
    assert isinstance(clock, XScreenSaverIdleClock)
    try:
        xdotool(xvfb, "mousemove_relative", "3", "0")
        wait_until(lambda: (clock.seconds_since_last_input() or 0) >= 0.6, timeout=10, message="idle to grow")

        xdotool(xvfb, "mousemove_relative", "--", "-3", "0")
        after_input = clock.seconds_since_last_input()

        assert after_input is not None and after_input < 0.5
    finally:
        clock.close()
    assert clock.seconds_since_last_input() is None  # closed: cannot tell, never raises


@pytest.mark.parametrize("with_idle_clock", [True, False], ids=["x-idle-counter", "last-input-time"])
def test_tracker_goes_idle_after_the_threshold_and_back_on_input(
    xvfb: XDisplay, caplog: pytest.LogCaptureFixture, with_idle_clock: bool
) -> None:
    caplog.set_level(logging.INFO, logger="activity_tracker")
    idle_clock = choose_idle_clock() if with_idle_clock else None
    tracker = ActivityTracker(idle_threshold_seconds=1, timezone_name="UTC", idle_clock=idle_clock)
    source = choose_input_source()
    source.start(tracker)
    try:
        xdotool(xvfb, "key", "x")
        wait_until(lambda: tracker.state == "idle", timeout=10, message="the tracker to go idle")
        idle_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("idle:")]

        xdotool(xvfb, "key", "x")
        wait_until(lambda: tracker.state == "tracking", timeout=10, message="input to end idle")
        back_lines = [r.getMessage() for r in caplog.records if "input again" in r.getMessage()]
        samples = tracker.collect(now=time.time() + 120)
    finally:
        source.stop()
        if isinstance(idle_clock, XScreenSaverIdleClock):
            idle_clock.close()

    assert len(idle_lines) == 1 and "no input for 1 s" in idle_lines[0]
    assert len(back_lines) == 1
    assert add_counts(s.keys for s in samples) == 2
    # The minute after the last key has no input and the threshold passed in it: recorded as idle.
    assert samples[-1].state == "idle" and samples[-1].active_seconds == 0


def force_screen_saver(display: XDisplay, active: bool) -> None:
    """The request ``xset s activate`` / ``xset s reset`` sends (xset itself is not installed here)."""
    from Xlib import X
    from Xlib import display as xdisplay

    connection = xdisplay.Display(display.name)
    try:
        connection.force_screen_saver(X.ScreenSaverActive if active else X.ScreenSaverReset)
        connection.sync()
    finally:
        connection.close()


def test_screen_saver_on_reads_as_locked_stops_captures_and_makes_the_minute_idle(
    xvfb: XDisplay, caplog: pytest.LogCaptureFixture
) -> None:
    from agent.adapters.inputs import choose_lock_state
    from agent.gate import CaptureGate
    from agent.watchdog import LockWatch
    from battery_manager import BatteryMonitor, BatteryPolicy

    caplog.set_level(logging.INFO, logger="agent.watchdog")
    idle_clock = choose_idle_clock()
    lock_state = choose_lock_state(idle_clock)
    assert isinstance(idle_clock, XScreenSaverIdleClock) and lock_state is idle_clock
    tracker = ActivityTracker(idle_threshold_seconds=300, timezone_name="UTC", idle_clock=idle_clock)
    gate = CaptureGate(tracker, BatteryMonitor(lambda: None, BatteryPolicy(20)))
    watch = LockWatch(lock_state, tracker)
    try:
        force_screen_saver(xvfb, active=False)
        watch.poll()
        assert lock_state.screen_locked() is False and gate.skip_reason() is None

        force_screen_saver(xvfb, active=True)
        watch.poll()
        locked_reason = gate.skip_reason()
        locked_state = tracker.state

        force_screen_saver(xvfb, active=False)
        watch.poll()
        samples = tracker.collect(now=time.time() + 60)
    finally:
        force_screen_saver(xvfb, active=False)
        idle_clock.close()

    # Before: captures went on for up to idle_threshold (here 300 s) after the lock.
    assert locked_reason == "the screen is locked" and locked_state == "idle"
    assert gate.skip_reason() is None and tracker.state == "tracking"
    assert samples[0].state == "idle"  # the minute the screen was locked in
    assert [r.getMessage() for r in caplog.records] == [
        "screen locked: no captures, and the minutes are idle until it is unlocked",
        "screen unlocked: tracking",
    ]
