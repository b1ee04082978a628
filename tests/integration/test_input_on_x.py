"""The real input path on a real X server: xdotool -> Xvfb -> pynput listeners -> ActivityTracker."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import XDisplay
from support import wait_until

from activity_tracker import ActivityTracker
from agent.adapters.inputs import PynputInputSource, choose_input_source
from agent.minutes import ActivityTotals
from contract.activity import MinuteSample, add_counts
from contract.errors import VinovaError

pytestmark = pytest.mark.integration

if shutil.which("xdotool") is None:
    pytest.skip("xdotool is not installed (make test installs it with apt)", allow_module_level=True)


def xdotool(display: XDisplay, *arguments: str) -> None:
    subprocess.run(["xdotool", *arguments], env=display.env(), check=True, timeout=30)


def pending_totals(tracker: ActivityTracker) -> ActivityTotals:
    """Counts not yet handed out, without handing them out (for bounded waiting)."""
    return tracker.today_totals("UTC")


def hand_out_everything(tracker: ActivityTracker) -> list[MinuteSample]:
    """Collect with a clock a minute ahead, so the minute in progress counts as completed."""
    return tracker.collect(now=time.time() + 60)


@pytest.fixture
def listening(xvfb: XDisplay) -> Iterator[tuple[ActivityTracker, PynputInputSource]]:
    """A tracker fed by the real X listeners, the pointer parked away from where tests move it."""
    xdotool(xvfb, "mousemove", "100", "100")
    tracker = ActivityTracker(idle_threshold_seconds=300, timezone_name="UTC")
    source = choose_input_source()
    assert isinstance(source, PynputInputSource)
    source.start(tracker)
    try:
        yield tracker, source
    finally:
        source.stop()


def test_injected_input_is_counted_exactly(
    xvfb: XDisplay, listening: tuple[ActivityTracker, PynputInputSource]
) -> None:
    tracker, _source = listening
    xdotool(xvfb, "mousemove", "500", "500")  # the first position seen: 0 px of travel
    wait_until(lambda: pending_totals(tracker).active_seconds > 0, timeout=10, message="the first move")

    xdotool(xvfb, "key", "--delay", "5", *(["x"] * 50))
    moves: list[str] = []
    for index in range(100):
        moves += ["mousemove", "510" if index % 2 == 0 else "500", "500"]
    xdotool(xvfb, *moves)  # 100 moves of 10 px each
    xdotool(xvfb, "click", "--repeat", "10", "--delay", "5", "1")
    xdotool(xvfb, "click", "--repeat", "5", "--delay", "5", "4")  # 5 scroll-up steps

    wait_until(
        lambda: (lambda t: (t.keys or 0) >= 50 and (t.clicks or 0) >= 10 and (t.scrolls or 0) >= 5
            and (t.mouse_px or 0) >= 1000)(
            pending_totals(tracker)
        ),
        timeout=20,
        message="every injected event to be counted",
    )
    samples = hand_out_everything(tracker)

    assert add_counts(s.keys for s in samples) == 50
    assert add_counts(s.clicks for s in samples) == 10
    assert add_counts(s.scrolls for s in samples) == 5
    assert add_counts(s.mouse_px for s in samples) == 1000
    assert 1 <= sum(s.active_seconds for s in samples) <= 60 * len(samples)
    assert samples[-1].state == "tracking"
    assert all(s.timezone == "UTC" and s.utc_offset_minutes == 0 for s in samples)


def test_stop_returns_within_two_seconds_and_ends_the_listeners(
    xvfb: XDisplay, listening: tuple[ActivityTracker, PynputInputSource]
) -> None:
    tracker, source = listening
    assert source.running
    xdotool(xvfb, "key", "x")
    wait_until(lambda: pending_totals(tracker).keys == 1, timeout=10, message="the listeners to count")

    started = time.monotonic()
    source.stop()
    stop_seconds = time.monotonic() - started
    source.stop()  # idempotent

    assert stop_seconds < 2.0
    assert not source.running


def test_typed_text_appears_nowhere(
    xvfb: XDisplay,
    listening: tuple[ActivityTracker, PynputInputSource],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    tracker, source = listening
    phrase = "quokkazebra7391"

    xdotool(xvfb, "type", "--delay", "5", phrase)
    wait_until(
        lambda: (pending_totals(tracker).keys or 0) >= len(phrase), timeout=10, message="the typed keys"
    )
    samples = hand_out_everything(tracker)
    source.stop()
    dump = tmp_path / "samples.json"
    dump.write_text(json.dumps([sample.to_json() for sample in samples]))

    assert add_counts(s.keys for s in samples) == len(phrase)
    assert phrase not in dump.read_text()
    assert phrase not in caplog.text
    assert phrase not in repr(tracker)
    assert phrase not in repr(vars(tracker))
    # Not even the characters: the tracker keeps no key at all, only how many.
    assert "quokka" not in repr(samples)


def test_no_display_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)

    with pytest.raises(VinovaError, match="DISPLAY"):
        choose_input_source()


def test_an_x_server_without_record_is_refused_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    number = next(n for n in range(190, 290) if not Path(f"/tmp/.X{n}-lock").exists())
    name = f":{number}"
    server = subprocess.Popen(
        ["Xvfb", name, "-screen", "0", "640x480x24", "-noreset", "-nolisten", "tcp", "-extension", "RECORD"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: subprocess.run(["xdpyinfo", "-display", name], capture_output=True).returncode == 0,
            timeout=15,
            message="Xvfb without RECORD",
        )
        monkeypatch.setenv("DISPLAY", name)
        with pytest.raises(VinovaError, match="RECORD"):
            choose_input_source()
        with pytest.raises(VinovaError, match="RECORD"):
            PynputInputSource().start(ActivityTracker(idle_threshold_seconds=60, timezone_name="UTC"))
    finally:
        server.terminate()
        server.wait(10)


def kill_x_client_of(xvfb: XDisplay, resource_id: int) -> None:
    """What ``xkill`` does: the X server closes the connection that owns ``resource_id``."""
    from Xlib import display as xdisplay
    from Xlib.protocol import request

    connection = xdisplay.Display(xvfb.name)
    try:
        request.KillClient(display=connection.display, resource=resource_id)
        connection.sync()
    finally:
        connection.close()


# The killed listener's thread ends with ConnectionClosedError: that is the death being simulated.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_listener_whose_x_connection_is_killed_is_restarted_by_the_watchdog_and_counts_again(
    xvfb: XDisplay, listening: tuple[ActivityTracker, PynputInputSource], caplog: pytest.LogCaptureFixture
) -> None:
    from agent.watchdog import InputWatchdog

    caplog.set_level(logging.INFO, logger="agent.watchdog")
    tracker, source = listening
    watchdog = InputWatchdog(source, tracker)
    keyboard_listener = source._listeners[0]
    kill_x_client_of(xvfb, keyboard_listener._context)  # the RECORD connection of the key listener
    wait_until(lambda: not source.running, timeout=10, message="the killed listener to die")
    xdotool(xvfb, "key", "x")
    assert pending_totals(tracker).keys == 0  # before: "idle" from here on, for hours

    began = time.monotonic()
    watchdog.check()
    restarted_within_seconds = time.monotonic() - began
    assert source.running and watchdog.ok and watchdog.restarts == 1
    xdotool(xvfb, "key", "x")
    wait_until(lambda: pending_totals(tracker).keys == 1, timeout=10, message="keys counted again")

    assert restarted_within_seconds < 2.0  # measured 0.08 s; pynput's join would wait 2 s on the dead one
    assert [r.getMessage() for r in caplog.records] == ["input listener stopped; restarted (1st time today)"]
