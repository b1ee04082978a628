"""The engine's guards with fake clocks and fakes behind the seams: sleep gaps, dead listeners, the lock."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from activity_tracker import ActivityTracker
from agent.adapters.wake import ClockWatch, Gap, span_text
from agent.engine import Agent
from agent.outbox import Outbox
from agent.seams import InputSink
from agent.watchdog import ordinal
from agent.window.formatting import describe_status
from battery_manager import BatteryMonitor, BatteryPolicy
from config_updater import ConfigPoller
from contract.errors import VinovaError

START = 1_795_000_000.0 - (1_795_000_000.0 % 60)  # a whole UTC minute in 2026
HOUR = 3600.0


class Clocks:
    """A wall clock and a monotonic clock the test moves apart (suspend) or together (frozen)."""

    def __init__(self) -> None:
        self.wall_now = START + 5
        self.monotonic_now = 1000.0

    def wall(self) -> float:
        return self.wall_now

    def monotonic(self) -> float:
        return self.monotonic_now

    def run(self, seconds: float) -> None:
        """Both clocks advance: the agent ran (or was frozen)."""
        self.wall_now += seconds
        self.monotonic_now += seconds

    def suspend(self, seconds: float) -> None:
        """Only the wall clock advances: the machine slept."""
        self.wall_now += seconds


class FakeInputSource:
    """Listeners the test can kill; restarts are recorded (and may be made to fail)."""

    def __init__(self) -> None:
        self.alive = False
        self.restarts = 0
        self.fail_restarts = 0

    def start(self, sink: InputSink) -> None:
        self.alive = True

    def stop(self) -> None:
        self.alive = False

    @property
    def running(self) -> bool:
        return self.alive

    def restart(self, sink: InputSink) -> None:
        if self.fail_restarts:
            self.fail_restarts -= 1
            raise VinovaError("cannot connect to the X display :99")
        self.restarts += 1
        self.alive = True


class FakeLock:
    def __init__(self) -> None:
        self.locked: bool | None = False

    def screen_locked(self) -> bool | None:
        return self.locked


class FakeSender:
    def __init__(self) -> None:
        self.samples: list[dict[str, Any]] = []
        self.reports: list[dict[str, int] | None] = []

    def post_activity(self, samples: list[dict[str, Any]], agent: dict[str, int] | None = None) -> int:
        self.samples.extend(samples)
        self.reports.append(agent)
        return len(samples)


class NoConfig:
    def get_config(self, etag: str | None) -> Any:
        class Answer:
            payload = None
            etag = None

        return Answer()


class Engine:
    def __init__(self, tmp_path: Path) -> None:
        self.clocks = Clocks()
        self.sender = FakeSender()
        self.source = FakeInputSource()
        self.lock = FakeLock()
        self.tracker = ActivityTracker(
            idle_threshold_seconds=300, timezone_name="UTC", wall_clock=self.clocks.wall
        )
        self.agent = Agent(
            username="ann",
            sender=self.sender,
            tracker=self.tracker,
            input_source=self.source,
            battery=BatteryMonitor(lambda: None, BatteryPolicy(20)),
            outbox=Outbox(tmp_path),
            poller=ConfigPoller(NoConfig(), tmp_path / "config.json"),
            monotonic=self.clocks.monotonic,
            wall_clock=self.clocks.wall,
            lock_state=self.lock,
        )
        self.source.start(self.tracker)

    def tick(self, wait_seconds: float = 1.0) -> None:
        """One scheduler round as ``_run_scheduler`` does it: wake check, then the jobs due."""
        self.agent.clock_watch.waiting(wait_seconds)
        self.clocks.run(wait_seconds)
        self.agent.check_awake()

    def minutes_sent(self) -> list[float]:
        return [datetime.fromisoformat(sample["minute_start"]).timestamp() for sample in self.sender.samples]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine(tmp_path)


def engine_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name in ("agent.engine", "agent.watchdog")]


# ---------------------------------------------------------------- the clocks
def test_clock_watch_tells_suspend_freeze_slow_jobs_and_hiccups_apart() -> None:
    clocks = Clocks()
    watch = ClockWatch(wall_clock=clocks.wall, monotonic=clocks.monotonic)

    watch.waiting(1.0)
    clocks.run(1.0)
    assert watch.check() is None  # an ordinary tick

    clocks.run(25)  # a job blocked on an HTTP timeout, outside the wait
    watch.waiting(1.0)
    clocks.run(1.0)
    assert watch.check() is None

    watch.waiting(1.0)
    clocks.run(20)  # a 19 s stall inside the wait: swap, a loaded CPU
    assert watch.check() is None

    watch.waiting(1.0)
    clocks.suspend(8 * HOUR)
    clocks.run(1.0)
    assert watch.check() == Gap(began_at=clocks.wall_now - 8 * HOUR, ended_at=clocks.wall_now)

    watch.waiting(1.0)
    clocks.run(81)  # SIGSTOP for 80 s during the wait
    gap = watch.check()
    assert gap is not None and gap.seconds == pytest.approx(80)

    watch.waiting(1.0)
    clocks.wall_now -= HOUR  # the wall clock stepped back
    clocks.run(1.0)
    assert watch.check() is None


def test_gaps_are_logged_in_plain_words() -> None:
    spans = (45, 60, 80, 12 * 60 + 5, 4320, 3600, 86400, 2 * 86400 + 3 * 3600 + 59)
    assert [span_text(seconds) for seconds in spans] == [
        "45 s", "1 min", "1 min", "12 min", "1 h 12 min", "1 h", "1 d", "2 d 3 h"
    ]
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"
    ]


# ---------------------------------------------------------------- sleep and freeze
def test_an_8_hour_suspend_sends_no_minute_of_the_night_and_restarts_the_listeners(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    engine.tracker.on_key_press()
    engine.tick()
    engine.agent.flush_activity()
    engine.agent.clock_watch.waiting(1.0)
    engine.clocks.suspend(8 * HOUR)  # lid closed at 18:00:06, opened eight hours later
    engine.clocks.run(1.0)
    engine.agent.check_awake()
    engine.clocks.run(60)
    engine.agent.flush_activity()

    sent = engine.minutes_sent()
    asleep_from, asleep_until = START + 6, START + 6 + 8 * HOUR
    assert [m for m in sent if asleep_from <= m and m + 60 <= asleep_until] == []  # was 475 idle + 5 tracking
    assert len(sent) == 2  # the minute the night began in and the one it ended in
    assert "resumed after 8 h asleep" in engine_lines(caplog)
    assert "input listeners restarted after the sleep" in engine_lines(caplog)
    assert engine.source.restarts == 1
    assert engine.agent.status().input_restarts == 0  # a wake is not a listener failure


def test_a_process_frozen_for_80_s_sends_no_sample_for_the_frozen_minute(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    engine.clocks.run(45)  # 18:00:50
    engine.tick()
    engine.agent.clock_watch.waiting(1.0)
    engine.clocks.run(80)  # SIGSTOP during the wait, SIGCONT 80 s later: both clocks moved
    engine.agent.check_awake()
    engine.clocks.run(60)
    engine.agent.flush_activity()

    sent = engine.minutes_sent()
    assert START + 60 not in sent  # 18:01 was wholly frozen
    assert sent == [START, START + 120]
    assert "resumed after 1 min asleep" in engine_lines(caplog)


def test_the_30_day_guard_is_no_longer_what_stops_a_two_week_backfill(engine: Engine) -> None:
    engine.agent.clock_watch.waiting(1.0)
    engine.clocks.suspend(14 * 86400)
    engine.clocks.run(1.0)
    engine.agent.check_awake()
    engine.clocks.run(60)
    engine.agent.flush_activity()

    assert len(engine.sender.samples) == 2  # was 20,160 minutes (14 days) of idle


# ---------------------------------------------------------------- the watchdog
def test_a_dead_listener_is_restarted_logged_counted_and_reported(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    engine.agent.input_watchdog.check()
    assert engine.source.restarts == 0  # alive: nothing to do

    engine.source.alive = False  # e.g. its X connection was killed
    assert not engine.agent.status().input_ok
    words = describe_status(engine.agent.status(), None, paused=False)[1]
    assert words.startswith("Tracking (input listener down")
    engine.agent.input_watchdog.check()
    engine.source.alive = False
    engine.agent.input_watchdog.check()

    status = engine.agent.status()
    assert (status.input_ok, status.input_restarts) == (True, 2)
    assert engine_lines(caplog) == [
        "input listener stopped; restarted (1st time today)",
        "input listener stopped; restarted (2nd time today)",
    ]
    badge = describe_status(status, None, paused=False)
    assert badge == ("tracking", "Tracking (input listener restarted 2 times)")
    engine.clocks.run(60)
    engine.agent.flush_activity()
    assert engine.sender.reports[-1] == {"input_ok": True, "input_restarts": 2}


def test_a_listener_that_cannot_restart_is_logged_once_and_tried_again(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    engine.source.alive = False
    engine.source.fail_restarts = 2
    for _ in range(3):
        engine.agent.input_watchdog.check()

    lines = engine_lines(caplog)
    assert len(lines) == 2 and "could not be restarted" in lines[0]
    assert lines[1] == "input listener stopped; restarted (1st time today)"
    assert engine.agent.status().input_ok


# ---------------------------------------------------------------- the screen lock
def test_a_locked_screen_stops_captures_makes_minutes_idle_and_logs_once_each_way(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    engine.tracker.on_key_press()
    engine.agent.run_job("screen lock", engine.agent.poll_screen_lock)
    assert engine.agent.gate.skip_reason() is None

    engine.clocks.run(30)
    engine.lock.locked = True
    for _ in range(3):
        engine.agent.poll_screen_lock()
    assert engine.agent.gate.skip_reason() == "the screen is locked"
    assert engine.agent.status().state == "idle"
    assert describe_status(engine.agent.status(), None, paused=False) == ("idle", "Idle (screen locked)")
    engine.clocks.run(150)
    engine.lock.locked = None  # the lock state cannot be read for a moment: nothing changes
    engine.agent.poll_screen_lock()
    assert engine.agent.gate.skip_reason() == "the screen is locked"
    engine.lock.locked = False
    engine.agent.poll_screen_lock()
    engine.agent.poll_screen_lock()
    assert engine.agent.gate.skip_reason() is None
    engine.clocks.run(60)
    engine.agent.flush_activity()

    assert [s["state"] for s in engine.sender.samples] == ["tracking", "idle", "idle", "idle"]
    assert engine_lines(caplog) == [
        "screen locked: no captures, and the minutes are idle until it is unlocked",
        "screen unlocked: tracking",
    ]
