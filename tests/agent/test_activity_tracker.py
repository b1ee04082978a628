"""ActivityTracker with a fake wall clock: counting, minutes, idle, pause/suspend, zones, JSON."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from activity_tracker import ActivityTracker
from agent.minutes import ActivityTotals
from contract.activity import MinuteSample, add_counts
from contract.errors import ConfigError

# A whole UTC minute: 2026-11-25 18:00:00 UTC.
T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC).timestamp()


class FakeClock:
    """A wall clock that only moves when told to."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def at(self, offset_seconds: float) -> FakeClock:
        """Move to T0 + offset_seconds (returns self for chaining)."""
        self.now = T0 + offset_seconds
        return self


class FakeIdleClock:
    """An idle counter whose answer the test sets."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds

    def seconds_since_last_input(self) -> float | None:
        return self.seconds


def make_tracker(
    clock: FakeClock, threshold: int = 300, zone: str = "UTC", idle_clock: FakeIdleClock | None = None
) -> ActivityTracker:
    return ActivityTracker(
        idle_threshold_seconds=threshold, timezone_name=zone, wall_clock=clock, idle_clock=idle_clock
    )


def minute(index: int) -> datetime:
    return datetime.fromtimestamp(T0 + 60 * index, UTC)


def states(samples: list[MinuteSample]) -> list[str]:
    return [sample.state for sample in samples]


def tracker_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "activity_tracker"]


def test_counts_presses_clicks_scroll_steps_travel_and_active_seconds() -> None:
    clock = FakeClock(T0 + 1)
    tracker = make_tracker(clock)

    clock.at(5.2)
    tracker.on_key_press()
    tracker.on_key_press()
    tracker.on_key_press()
    clock.at(6.9)
    tracker.on_move(100, 100)  # first position seen: no travel yet
    tracker.on_move(103, 104)  # 5 px
    tracker.on_move(103, 114)  # 10 px
    tracker.on_click()
    clock.at(30)
    tracker.on_scroll(2)
    tracker.on_scroll(-1)  # a step is a step, whichever way

    samples = tracker.collect(now=T0 + 60)

    assert samples == [
        MinuteSample(
            minute_start=minute(0),
            active_seconds=3,  # seconds 5, 6 and 30
            keys=3,
            clicks=1,
            scrolls=3,
            mouse_px=15,
            state="tracking",
            timezone="UTC",
            utc_offset_minutes=0,
        )
    ]


def test_travel_is_rounded_per_minute_not_per_move() -> None:
    clock = FakeClock(T0 + 1)
    tracker = make_tracker(clock)

    tracker.on_move(0, 0)
    for step in range(1, 11):
        tracker.on_move(step, step)  # 1.414 px each, 14.14 px in all

    assert tracker.collect(now=T0 + 60)[0].mouse_px == 14


def test_every_completed_minute_is_handed_out_once_including_quiet_ones() -> None:
    clock = FakeClock(T0 + 10)
    tracker = make_tracker(clock)
    tracker.on_key_press()
    clock.at(130)
    tracker.on_click()

    assert tracker.collect(now=T0 + 59.9) == []
    first = tracker.collect(now=T0 + 180)
    again = tracker.collect(now=T0 + 180)

    assert [sample.minute_start for sample in first] == [minute(0), minute(1), minute(2)]
    assert [(s.keys, s.clicks, s.active_seconds) for s in first] == [(1, 0, 1), (0, 0, 0), (0, 1, 1)]
    assert states(first) == ["tracking"] * 3
    assert again == []


def test_a_clock_stepped_back_never_reopens_a_handed_out_minute() -> None:
    clock = FakeClock(T0 + 10)
    tracker = make_tracker(clock)
    clock.at(70)
    tracker.on_key_press()
    assert len(tracker.collect(now=T0 + 120)) == 2

    clock.at(30)  # e.g. an NTP step backwards
    tracker.on_key_press()
    clock.at(181)
    samples = tracker.collect()

    assert [s.minute_start for s in samples] == [minute(2)]
    assert samples[0].keys == 1


def test_idle_after_threshold_is_recorded_then_input_returns_to_tracking(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="activity_tracker")
    clock = FakeClock(T0)
    tracker = make_tracker(clock, threshold=150)
    clock.at(10)
    tracker.on_key_press()

    clock.at(100)
    assert tracker.state == "tracking"
    clock.at(161)
    assert tracker.state == "idle"
    assert tracker.state == "idle"
    clock.at(305)
    tracker.on_key_press()
    samples = tracker.collect(now=T0 + 360)

    # Idle begins at 10 + 150 = 160 s: minute 1 (ends at 120 s) is still tracking,
    # minute 2 (where idle begins) and minutes 3-4 are idle, minute 5 has input again.
    assert states(samples) == ["tracking", "tracking", "idle", "idle", "idle", "tracking"]
    assert tracker.state == "tracking"
    lines = tracker_lines(caplog)
    assert len(lines) == 2
    assert lines[0].startswith("idle: no input for 150 s since 2026-11-25 18:00:10")
    assert "after 295 s without input" in lines[1]


def test_a_new_idle_threshold_takes_effect_at_once() -> None:
    clock = FakeClock(T0)
    tracker = make_tracker(clock, threshold=300)
    clock.at(10)
    tracker.on_key_press()
    clock.at(100)
    assert tracker.state == "tracking"

    tracker.set_idle_threshold(60)

    assert tracker.state == "idle"
    assert tracker.idle_threshold_seconds == 60
    assert states(tracker.collect(now=T0 + 120)) == ["tracking", "idle"]


def test_paused_counts_nothing_and_its_minutes_say_paused(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="activity_tracker")
    clock = FakeClock(T0)
    tracker = make_tracker(clock, threshold=60)
    clock.at(10)
    tracker.on_key_press()
    clock.at(50)
    tracker.set_paused(True)
    clock.at(70)
    tracker.on_key_press()
    tracker.on_move(1, 1)
    tracker.on_click()
    assert tracker.state == "paused"
    clock.at(500)
    tracker.set_paused(False)
    assert tracker.state == "tracking"  # a long pause does not end in instant idle
    clock.at(550)
    tracker.on_key_press()

    samples = tracker.collect(now=T0 + 600)

    assert states(samples) == ["tracking"] + ["paused"] * 8 + ["tracking"]
    assert add_counts(s.keys for s in samples) == 2
    assert all(s.keys == s.clicks == s.mouse_px == s.active_seconds == 0 for s in samples[1:9])
    assert tracker_lines(caplog) == ["tracking paused", "tracking resumed (was paused)"]


def test_suspended_minutes_say_suspended_and_pause_wins_over_it() -> None:
    clock = FakeClock(T0)
    tracker = make_tracker(clock)
    clock.at(30)
    tracker.set_suspended(True)
    assert tracker.state == "suspended"
    clock.at(90)
    tracker.on_key_press()  # not counted while suspended
    clock.at(130)
    tracker.set_paused(True)
    clock.at(250)
    tracker.set_suspended(False)
    assert tracker.state == "paused"
    clock.at(310)
    tracker.set_paused(False)
    clock.at(370)
    tracker.on_key_press()

    samples = tracker.collect(now=T0 + 420)

    assert states(samples) == ["suspended", "suspended", "paused", "paused", "paused", "paused", "tracking"]
    assert [s.keys for s in samples] == [0, 0, 0, 0, 0, 0, 1]


def test_samples_carry_the_zone_and_offset_in_force() -> None:
    clock = FakeClock(T0)
    tracker = make_tracker(clock, zone="Asia/Kolkata")
    first = tracker.collect(now=T0 + 60)
    tracker.set_timezone("America/New_York")
    second = tracker.collect(now=T0 + 120)

    assert (first[0].timezone, first[0].utc_offset_minutes) == ("Asia/Kolkata", 330)
    assert (second[0].timezone, second[0].utc_offset_minutes) == ("America/New_York", -300)
    with pytest.raises(ConfigError):
        tracker.set_timezone("Nowhere/Special")


def test_the_offset_changes_at_the_dst_minute() -> None:
    change = datetime(2026, 3, 8, 7, 0, tzinfo=UTC).timestamp()  # New York springs forward
    clock = FakeClock(change - 60)
    tracker = make_tracker(clock, zone="America/New_York")

    samples = tracker.collect(now=change + 60)

    assert [s.utc_offset_minutes for s in samples] == [-300, -240]


def test_local_zone_is_stamped_as_its_iana_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Australia/Lord_Howe")
    clock = FakeClock(T0)
    tracker = make_tracker(clock, zone="local")

    sample = tracker.collect(now=T0 + 60)[0]

    assert (sample.timezone, sample.utc_offset_minutes) == ("Australia/Lord_Howe", 660)


def test_idle_clock_input_unseen_by_the_listeners_still_counts_as_presence() -> None:
    clock = FakeClock(T0)
    idle_clock = FakeIdleClock(seconds=None)
    tracker = make_tracker(clock, threshold=60, idle_clock=idle_clock)

    clock.at(100)
    idle_clock.seconds = 5.0  # e.g. a touch screen the listeners do not hear
    assert tracker.state == "tracking"
    clock.at(200)
    idle_clock.seconds = 105.0
    assert tracker.state == "idle"
    idle_clock.seconds = 0.5
    assert tracker.state == "tracking"
    samples = tracker.collect(now=T0 + 240)

    # Input at 95 s: minute 1 is tracking (no counts), idle from 155 s: minute 2 idle, back at 199.5 s.
    assert states(samples) == ["tracking", "tracking", "idle", "tracking"]
    assert sum(s.active_seconds for s in samples) == 0


def test_callbacks_never_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    clock = FakeClock(T0)
    tracker = make_tracker(clock)

    for offset in range(100):
        clock.at(offset * 0.5)
        tracker.on_key_press()
        tracker.on_move(offset, offset)
        tracker.on_click()
        tracker.on_scroll(1)

    assert caplog.records == []


def test_today_totals_and_current_slot_percent() -> None:
    clock = FakeClock(T0)
    tracker = make_tracker(clock, zone="America/New_York")
    for second in range(30):
        clock.at(600 + second)  # 18:10:00-18:10:29 UTC, slot 18:10
        tracker.on_key_press()
    clock.at(660)
    tracker.on_click()
    tracker.collect(now=T0 + 661)
    clock.at(662)
    tracker.on_click()  # still pending, counted too

    # Active over tracked seconds of the slot so far: minute 18:10 (60 s tracked) and 40 s of 18:11.
    assert tracker.slot_activity_percent(now=T0 + 700) == 32
    assert tracker.today_totals(now=T0 + 700) == ActivityTotals(
        active_seconds=32, keys=30, clicks=2, scrolls=0, mouse_px=0
    )
    # At 18:31:40 UTC it is already 2026-11-26 in Kolkata (that day began at 18:30 UTC): nothing yet.
    assert tracker.today_totals("Asia/Kolkata", now=T0 + 1900) == ActivityTotals()
    assert tracker.today_totals(now=T0 + 1900).keys == 30


def test_bad_settings_are_config_errors() -> None:
    clock = FakeClock(T0)
    with pytest.raises(ConfigError):
        make_tracker(clock, zone="Atlantis/Capital")
    with pytest.raises(ConfigError):
        make_tracker(clock, threshold=0)
    with pytest.raises(ConfigError):
        make_tracker(clock).set_idle_threshold(-5)


def test_a_clock_jump_beyond_30_days_keeps_only_the_last_30_days(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="activity_tracker")
    clock = FakeClock(T0)
    tracker = make_tracker(clock)
    tracker.on_key_press()

    samples = tracker.collect(now=T0 + 31 * 86400)

    assert len(samples) == 30 * 1440
    assert samples[0].minute_start == minute(1440)
    assert all(s.state == "idle" for s in samples)
    assert any("1440 minutes older than 30 days" in line for line in tracker_lines(caplog))


def test_slot_percent_counts_only_tracked_seconds_and_is_none_when_nothing_was_tracked() -> None:
    clock = FakeClock(T0)
    tracker = make_tracker(clock, threshold=60)
    for second in range(15):
        clock.at(second)
        tracker.on_key_press()  # 15 active seconds in minute 0
    clock.at(30)
    tracker.set_paused(True)  # minutes 1-2 paused
    clock.at(180)
    tracker.set_paused(False)
    tracker.collect(now=T0 + 180)

    # Minute 0 is tracking (60 s), minutes 1-2 paused (not tracked), 10 s of minute 3 so far.
    assert tracker.slot_activity_percent(now=T0 + 190) == round(100 * 15 / 70)
    # The window's old formula, active / 600, said 2.5 % for the same slot.
    assert 100 * 15 / 600 == 2.5

    tracker.set_paused(True)
    assert tracker.slot_activity_percent(now=T0 + 60 * 10 + 30) is None  # the next slot: all paused
    assert tracker.slot_activity_percent(now=T0 + 60 * 10 + 30) is None


def test_minutes_wholly_inside_an_8_hour_sleep_are_no_data() -> None:
    clock = FakeClock(T0 + 5)
    tracker = make_tracker(clock)
    tracker.on_key_press()
    asleep_at = T0 + 90  # lid closed 30 s into minute 1
    woke_at = asleep_at + 8 * 3600
    clock.now = woke_at
    tracker.note_asleep(asleep_at, woke_at)
    tracker.on_key_press()  # the user is back in the minute of the wake

    samples = tracker.collect(now=woke_at + 60)

    # Minute 0 (input), minute 1 (the sleep began in it), the wake minute: nothing in between.
    assert [s.minute_start for s in samples] == [minute(0), minute(1), minute(481)]
    assert states(samples) == ["tracking", "tracking", "tracking"]
    assert [s.keys for s in samples] == [1, 0, 1]


def test_a_two_week_absence_leaves_no_minutes_and_no_30_day_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="activity_tracker")
    clock = FakeClock(T0 + 5)
    tracker = make_tracker(clock)
    woke_at = T0 + 14 * 86400 + 30
    clock.now = woke_at
    tracker.note_asleep(T0 + 10, woke_at)

    samples = tracker.collect(now=woke_at + 60)

    assert [s.minute_start for s in samples] == [minute(0), minute(14 * 1440)]
    assert states(samples) == ["tracking", "idle"]  # quiet after the wake, the threshold long passed
    assert tracker_lines(caplog) == []


def test_a_sleep_too_short_to_hold_a_whole_minute_leaves_every_minute() -> None:
    clock = FakeClock(T0 + 5)
    tracker = make_tracker(clock)
    tracker.note_asleep(T0 + 20, T0 + 75)  # 55 s, across a minute boundary

    assert len(tracker.collect(now=T0 + 120)) == 2


def test_a_locked_screen_counts_nothing_its_minutes_are_idle_and_unlock_is_presence(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="activity_tracker")
    clock = FakeClock(T0)
    tracker = make_tracker(clock, threshold=300)
    clock.at(10)
    tracker.on_key_press()
    clock.at(50)
    tracker.set_screen_locked(True)
    assert tracker.state == "idle" and tracker.screen_locked
    clock.at(70)
    tracker.on_key_press()  # typing the password: not counted
    tracker.on_click()
    clock.at(250)
    tracker.set_screen_locked(False)
    assert tracker.state == "tracking" and not tracker.screen_locked
    clock.at(330)
    tracker.on_click()

    samples = tracker.collect(now=T0 + 360)

    # Minute 0 had input before the lock; minutes 1-4 were locked in part (4 until 250 s); 5 is tracking.
    assert states(samples) == ["tracking", "idle", "idle", "idle", "idle", "tracking"]
    assert [(s.keys, s.clicks) for s in samples] == [(1, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 1)]
    assert tracker_lines(caplog) == []  # the engine's lock poll says it, once per change


# --------------------------------------------------------------------------- a device that cannot count
def test_uncounted_input_marks_seconds_active_and_the_counts_are_null() -> None:
    clock = FakeClock(T0)
    tracker = ActivityTracker(idle_threshold_seconds=60, timezone_name="UTC", wall_clock=clock, counted=False)
    for second in (1, 2, 2.5, 30):
        clock.at(second)
        tracker.on_uncounted_input()

    samples = tracker.collect(now=T0 + 180)

    assert states(samples) == ["tracking", "idle", "idle"]
    assert samples[0].active_seconds == 3
    assert all(s.keys is s.clicks is s.scrolls is s.mouse_px is None for s in samples)
    assert samples[0].to_json()["keys"] is None
    totals = tracker.today_totals(now=T0 + 180)
    assert (totals.active_seconds, totals.keys, totals.clicks, totals.mouse_px) == (3, None, None, None)


def test_uncounted_input_keeps_the_tracker_out_of_idle() -> None:
    clock = FakeClock(T0)
    tracker = ActivityTracker(idle_threshold_seconds=60, timezone_name="UTC", wall_clock=clock, counted=False)
    clock.at(50)
    tracker.on_uncounted_input()
    clock.at(100)
    assert tracker.state == "tracking"
    clock.at(111)
    assert tracker.state == "idle"
    tracker.on_uncounted_input()
    assert tracker.state == "tracking"


def test_uncounted_input_is_ignored_while_paused() -> None:
    clock = FakeClock(T0)
    tracker = ActivityTracker(idle_threshold_seconds=60, timezone_name="UTC", wall_clock=clock, counted=False)
    tracker.set_paused(True)
    clock.at(5)
    tracker.on_uncounted_input()
    samples = tracker.collect(now=T0 + 60)
    assert states(samples) == ["paused"] and samples[0].active_seconds == 0 and samples[0].keys is None


def test_a_counting_device_still_counts_zero_not_null() -> None:
    clock = FakeClock(T0)
    tracker = make_tracker(clock)
    clock.at(3)
    tracker.on_uncounted_input()  # e.g. the idle clock saw input the listeners missed
    samples = tracker.collect(now=T0 + 60)
    assert samples[0].active_seconds == 1 and samples[0].keys == 0
    assert tracker.today_totals(now=T0 + 60).keys == 0
