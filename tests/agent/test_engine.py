"""The engine with fakes behind its seams: activity delivery, backoff, session end, config, events, stop."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from activity_tracker import ActivityTracker
from agent.engine import Agent
from agent.events import ConfigApplied
from agent.outbox import Outbox
from battery_manager import BatteryMonitor, BatteryPolicy, BatteryReading
from config_updater import ConfigPoller
from contract.config_schema import DEFAULTS
from contract.errors import PermanentError, SessionExpired, TransientError

START = 1_795_000_000.0 - (1_795_000_000.0 % 60)  # a whole UTC minute in 2026


class Clock:
    """A settable wall clock and monotonic clock moving together."""

    def __init__(self) -> None:
        self.now = START + 5

    def wall(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


class FakeSender:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.backlogs: list[dict[str, int] | None] = []
        self.failures: list[Exception] = []

    def post_activity(self, samples: list[dict[str, Any]], agent: dict[str, int] | None = None) -> int:
        if self.failures:
            raise self.failures.pop(0)
        self.batches.append(samples)
        self.backlogs.append(agent)
        return len(samples)


class FakeAnswer:
    def __init__(self, payload: dict[str, Any] | None) -> None:
        self.payload = payload
        self.etag = '"x"' if payload else None


class FakeConfigSource:
    def __init__(self) -> None:
        self.payload: dict[str, Any] | None = None

    def get_config(self, etag: str | None) -> FakeAnswer:
        return FakeAnswer(self.payload)


class Battery:
    def __init__(self) -> None:
        self.reading: BatteryReading | None = None

    def __call__(self) -> BatteryReading | None:
        return self.reading


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = Clock()
        self.sender = FakeSender()
        self.source = FakeConfigSource()
        self.battery_reader = Battery()
        self.expired: list[bool] = []
        self.tracker = ActivityTracker(
            idle_threshold_seconds=300, timezone_name="UTC", wall_clock=self.clock.wall
        )
        self.outbox = Outbox(tmp_path)
        self.poller = ConfigPoller(self.source, tmp_path / "config.json")
        self.agent = Agent(
            username="ann",
            sender=self.sender,
            tracker=self.tracker,
            input_source=None,
            battery=BatteryMonitor(self.battery_reader, BatteryPolicy(20)),
            outbox=self.outbox,
            poller=self.poller,
            on_session_expired=lambda: self.expired.append(True),
            monotonic=self.clock.monotonic,
            wall_clock=self.clock.wall,
        )


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def type_keys(harness: Harness, count: int) -> None:
    for _ in range(count):
        harness.tracker.on_key_press()


def test_completed_minutes_are_sent_once_and_leave_the_outbox(harness: Harness) -> None:
    type_keys(harness, 7)
    harness.clock.now = START + 60 * 3 + 1
    harness.agent.flush_activity()
    sent = [sample for batch in harness.sender.batches for sample in batch]
    assert [sample["keys"] for sample in sent] == [7, 0, 0]
    assert harness.outbox.count("ann") == 0
    harness.agent.flush_activity()
    assert len(harness.sender.batches) == 1


def test_offline_minutes_wait_with_backoff_then_drain(harness: Harness) -> None:
    type_keys(harness, 3)
    harness.clock.now = START + 61
    harness.sender.failures = [TransientError("cannot reach the server")]
    harness.agent.flush_activity()
    assert harness.agent.offline and harness.outbox.count("ann") == 1

    harness.agent.flush_activity()  # still inside the backoff window: no new attempt
    assert harness.sender.batches == [] and harness.sender.failures == []

    harness.clock.now += 2  # first backoff is at most 1 s
    harness.agent.flush_activity()
    assert not harness.agent.offline
    assert harness.outbox.count("ann") == 0
    assert harness.sender.batches[0][0]["keys"] == 3


def test_a_refused_batch_is_kept_not_dropped(harness: Harness) -> None:
    harness.clock.now = START + 61
    harness.sender.failures = [PermanentError("HTTP 400 validation_error")]
    harness.agent.flush_activity()
    assert harness.outbox.count("ann") == 1


def test_a_refused_batch_is_retried_at_the_slowest_pace(harness: Harness) -> None:
    harness.clock.now = START + 61
    harness.sender.failures = [PermanentError("HTTP 400 validation_error")]
    harness.agent.flush_activity()
    harness.clock.now += 149  # the slowest pace waits at least half the 300 s maximum
    harness.agent.flush_activity()
    assert harness.sender.batches == [] and harness.outbox.count("ann") == 3
    harness.clock.now += 151
    harness.agent.flush_activity()
    assert harness.outbox.count("ann") == 0


def test_session_end_stops_sending_and_capturing_until_renewed(harness: Harness) -> None:
    harness.clock.now = START + 61
    harness.sender.failures = [SessionExpired()]
    harness.agent.run_job("activity", harness.agent.flush_activity)
    assert harness.expired == [True]
    assert harness.agent.gate.skip_reason() == "signed out"
    harness.clock.now += 60
    harness.agent.flush_activity()
    assert harness.sender.batches == [] and harness.outbox.count("ann") == 2

    harness.agent.session_renewed()
    harness.agent.flush_activity()
    assert harness.outbox.count("ann") == 0 and harness.agent.gate.skip_reason() is None


def test_a_config_change_reaches_tracker_battery_and_schedule(harness: Harness) -> None:
    harness.battery_reader.reading = BatteryReading(percent=40, plugged_in=False)
    harness.agent.start()
    try:
        assert not harness.agent.battery.suspended  # 40 % is above the default 20 %
        harness.source.payload = {**DEFAULTS, "idle_threshold": 45, "battery_threshold": 50,
                                  "config_poll_interval": 5, "version": 2}
        harness.agent.poll_config()
        assert harness.tracker.idle_threshold_seconds == 45
        assert harness.agent.battery.suspended
        assert harness.tracker.state == "suspended"
        assert harness.agent.gate.skip_reason() == "battery low: tracking suspended"
        intervals = sorted(job.interval for job in harness.agent.scheduler.jobs)
        assert intervals == [2, 5, 5, 10, 30]  # lock poll, activity, config, watchdog, battery
    finally:
        harness.agent.stop()


def test_config_applied_events_carry_the_config_and_its_changes(harness: Harness) -> None:
    applied: list[ConfigApplied] = []
    harness.agent.events.subscribe(ConfigApplied, applied.append)
    harness.agent.start()
    try:
        harness.source.payload = {**DEFAULTS, "idle_threshold": 45, "version": 2}
        harness.agent.poll_config()
    finally:
        harness.agent.stop()
    assert [event.changes for event in applied] == [{}, {"idle_threshold": (300, 45)}]
    assert applied[-1].config.idle_threshold == 45


def test_pause_and_resume_change_the_state_and_the_capture_decision(harness: Harness) -> None:
    harness.agent.pause()
    assert harness.tracker.state == "paused"
    assert harness.agent.gate.skip_reason() == "tracking is paused"
    harness.agent.resume()
    assert harness.tracker.state == "tracking"
    assert harness.agent.gate.skip_reason() is None


def test_stop_ends_the_scheduler_thread_quickly_and_twice_is_harmless(harness: Harness) -> None:
    harness.agent.start()
    assert any(thread.name == "vinova-scheduler" for thread in threading.enumerate())
    began = time.monotonic()
    harness.agent.stop()
    harness.agent.stop()
    assert time.monotonic() - began < 2.0
    assert not any(thread.name == "vinova-scheduler" for thread in threading.enumerate())


class FakeUploads:
    """Stands in for the upload worker: a fixed backlog."""

    def __init__(self) -> None:
        self.started = False

    def start(self) -> None:
        self.started = True

    def stop(self, timeout: float = 2.0) -> None:
        self.started = False

    def resume(self) -> None:
        pass

    def status(self) -> Any:
        class Status:
            waiting = 3
            kept_aside = 1

        return Status()


def test_activity_posts_carry_the_upload_backlog_for_the_admin(harness: Harness) -> None:
    harness.agent.uploads = FakeUploads()
    harness.clock.now = START + 61
    harness.agent.flush_activity()
    # No input listeners in this harness: the Team page learns that input is not observed.
    assert harness.sender.backlogs == [
        {"uploads_waiting": 3, "kept_aside": 1, "input_ok": False, "input_restarts": 0}
    ]
