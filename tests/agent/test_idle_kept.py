"""A choice after idle (issue 12) with fake clocks: absences found, minutes relabelled ``idle_kept``,
sent again with the new state; and the window's plain words for the policy and the question."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from activity_tracker import ActivityTracker
from agent.engine import Agent
from agent.events import Returned
from agent.outbox import Outbox
from agent.window.policy_words import away_text, policy_text, span_words
from battery_manager import BatteryMonitor, BatteryPolicy
from config_updater import ConfigPoller
from contract.config_schema import AgentConfig

T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC).timestamp()  # a whole UTC minute
THRESHOLD = 60


class Clock:
    def __init__(self) -> None:
        self.now = T0 + 5

    def __call__(self) -> float:
        return self.now


class Sender:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def post_activity(self, samples: list[dict[str, Any]], agent: dict[str, int] | None = None) -> int:
        self.sent.extend(samples)
        return len(samples)


class NoConfig:
    def get_config(self, etag: str | None) -> Any:
        raise AssertionError("not polled in these tests")


def away_for_five_minutes(tracker: ActivityTracker, clock: Clock) -> None:
    """Input at T0+5, nothing until T0+310 (minutes 1-4 are idle), then input again."""
    clock.now = T0 + 5
    tracker.on_key_press()
    clock.now = T0 + 310
    tracker.on_key_press()


def make_tracker(clock: Clock) -> ActivityTracker:
    return ActivityTracker(idle_threshold_seconds=THRESHOLD, timezone_name="UTC", wall_clock=clock)


def test_an_absence_is_found_once_and_its_idle_minutes_become_kept() -> None:
    clock = Clock()
    tracker = make_tracker(clock)
    away_for_five_minutes(tracker, clock)
    clock.now = T0 + 360
    before = tracker.collect()

    returns = tracker.take_returns()
    relabelled = tracker.keep_idle(*returns[0])

    assert [sample.state for sample in before] == ["tracking", "idle", "idle", "idle", "idle", "tracking"]
    assert returns == [(T0 + 5, T0 + 310)] and tracker.take_returns() == []
    assert [sample.minute_start.timestamp() for sample in relabelled] == [T0 + 60 * n for n in (1, 2, 3, 4)]
    assert {sample.state for sample in relabelled} == {"idle_kept"}
    assert all(sample.active_seconds == 0 and sample.keys == 0 for sample in relabelled)
    # The slot's activity % now counts the kept minutes as tracked time (2 active s of 6 minutes).
    clock.now = T0 + 360
    assert tracker.slot_activity_percent() == round(100 * 2 / 360)


def test_minutes_not_yet_collected_are_labelled_kept_when_they_are() -> None:
    clock = Clock()
    tracker = make_tracker(clock)
    away_for_five_minutes(tracker, clock)
    (began, ended), = tracker.take_returns()

    assert tracker.keep_idle(began, ended) == []  # nothing was collected yet
    clock.now = T0 + 360
    assert [sample.state for sample in tracker.collect()] == [
        "tracking", "idle_kept", "idle_kept", "idle_kept", "idle_kept", "tracking"]


def test_a_pause_is_not_an_absence_but_a_locked_screen_is() -> None:
    clock = Clock()
    tracker = make_tracker(clock)
    tracker.on_key_press()
    tracker.set_paused(True)
    clock.now = T0 + 600
    tracker.set_paused(False)
    assert tracker.take_returns() == []
    tracker.set_screen_locked(True)
    clock.now = T0 + 900
    tracker.set_screen_locked(False)
    assert tracker.take_returns() == [(T0 + 600, T0 + 900)]


def test_the_engine_announces_the_return_and_resends_the_minutes_with_the_new_state(tmp_path: Path) -> None:
    clock, sender = Clock(), Sender()
    tracker = make_tracker(clock)
    agent = Agent(username="ann", sender=sender, tracker=tracker, input_source=None,
                  battery=BatteryMonitor(lambda: None, BatteryPolicy(20)), outbox=Outbox(tmp_path),
                  poller=ConfigPoller(NoConfig(), tmp_path / "config.json"), monotonic=clock,
                  wall_clock=clock)
    returned: list[Returned] = []
    agent.events.subscribe(Returned, returned.append)
    away_for_five_minutes(tracker, clock)
    clock.now = T0 + 360
    agent.flush_activity()
    assert [sample["state"] for sample in sender.sent].count("idle") == 4
    assert [(event.began_at.timestamp(), event.ended_at.timestamp()) for event in returned] == [
        (T0 + 5, T0 + 310)]

    agent.keep_idle(returned[0].began_at, returned[0].ended_at)  # the answer, from the Tk thread
    sender.sent.clear()
    agent.flush_activity()

    assert [(sample["minute_start"], sample["state"]) for sample in sender.sent] == [
        (datetime.fromtimestamp(T0 + 60 * n, UTC).isoformat(), "idle_kept") for n in (1, 2, 3, 4)]
    assert agent.outbox.count("ann") == 0
    sender.sent.clear()
    agent.flush_activity()
    assert sender.sent == []  # sent once, not again
    agent.outbox.close()


def test_the_policy_in_plain_words() -> None:
    five_min_blurred = AgentConfig(screenshot_interval=300, blur_screenshots=True,
                                   employee_delete_window_minutes=10)
    assert policy_text(five_min_blurred) == (
        "Screenshots every 5 min, blurred; you can delete a screenshot for 10 min after it is taken.")
    assert policy_text(AgentConfig()) == "Screenshots every 5 min; screenshots cannot be deleted once taken."
    assert policy_text(AgentConfig(screenshot_interval=90, random_capture_time=True, upload_delay_seconds=120,
                                   employee_delete_window_minutes=10080)) == (
        "Screenshots every 1 min 30 s at a random moment; each waits 2 min on this computer before upload,"
        " and you can delete it here meanwhile; you can delete a screenshot for 7 days after it is taken.")
    assert policy_text(AgentConfig(capture_enabled=False)) == "No screenshots are taken."
    assert [span_words(m) for m in (1, 90, 120, 1440)] == ["1 min", "90 min", "2 h", "1 day"]


def test_the_question_after_idle_names_the_span_in_local_time() -> None:
    began = datetime(2026, 11, 25, 10, 2, 10, tzinfo=UTC)
    assert away_text(began, datetime(2026, 11, 25, 10, 16, 5, tzinfo=UTC), "UTC") == (
        "You were away 14 min (10:02\N{EN DASH}10:16).")
    assert away_text(began, datetime(2026, 11, 25, 11, 7, 10, tzinfo=UTC), "Asia/Kathmandu") == (
        "You were away 1 h 05 min (15:47\N{EN DASH}16:52).")
