"""The one minute sample: its JSON shape, its one validator and bounds, and the agent → server round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from activity_tracker import ActivityTracker
from contract.activity import (
    COUNT_FIELDS,
    MAX_COUNT,
    MAX_FUTURE_SKEW,
    InvalidSample,
    MinuteSample,
    add_counts,
    merge_device_minutes,
    parse_sample,
)
from server.db.activity_data import parse_activity_batch

MINUTE = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
NOW = MINUTE + timedelta(minutes=1, seconds=30)


def good_json(**changes: Any) -> dict[str, Any]:
    """A valid sample's JSON with ``changes`` applied."""
    return {**MinuteSample(MINUTE, 42, 10, 2, 3, 400, "tracking", "Asia/Kolkata", 330).to_json(), **changes}


def refused_fields(raw: Any) -> dict[str, str]:
    with pytest.raises(InvalidSample) as caught:
        parse_sample(raw, NOW)
    return caught.value.errors


def test_to_json_gives_the_api_shape() -> None:
    sample = MinuteSample(MINUTE, 42, 10, 2, 3, 400, "tracking", "Asia/Kolkata", 330)

    assert sample.to_json() == {
        "minute_start": "2026-11-25T18:00:00+00:00",
        "active_seconds": 42,
        "keys": 10,
        "clicks": 2,
        "scrolls": 3,
        "mouse_px": 400,
        "state": "tracking",
        "timezone": "Asia/Kolkata",
        "utc_offset_minutes": 330,
    }


def test_a_good_sample_is_accepted_and_equals_the_one_that_was_sent() -> None:
    sample = MinuteSample(MINUTE, 42, 10, 2, 3, 400, "tracking", "Asia/Kolkata", 330)

    assert parse_sample(sample.to_json(), NOW) == sample
    # The same instant written with another offset is the same minute.
    assert parse_sample(good_json(minute_start="2026-11-25T23:30:00+05:30"), NOW) == sample


def test_the_bounds_are_inclusive() -> None:
    edges = good_json(
        active_seconds=60, keys=MAX_COUNT, clicks=0, mouse_px=MAX_COUNT, utc_offset_minutes=-16 * 60,
        minute_start=((NOW - timedelta(days=30)).replace(second=0) + timedelta(minutes=1)).isoformat(),
    )
    assert parse_sample(good_json(utc_offset_minutes=16 * 60), NOW).utc_offset_minutes == 960
    assert parse_sample(good_json(minute_start=NOW.replace(second=0).isoformat()), NOW).minute_start < NOW
    assert parse_sample(edges, NOW).keys == MAX_COUNT


@pytest.mark.parametrize(
    ("change", "bad_field"),
    [
        ({"minute_start": "2026-11-25T18:00:30+00:00"}, "minute_start"),  # not a whole minute
        ({"minute_start": "2026-11-25T18:00:00"}, "minute_start"),  # no offset
        ({"minute_start": 1764093600}, "minute_start"),
        ({"minute_start": "2026-11-25T18:07:00+00:00"}, "minute_start"),  # over 5 minutes ahead
        ({"minute_start": "0001-01-01T00:00:00+14:00"}, "minute_start"),  # before year 1 in UTC
        ({"minute_start": "9999-12-31T23:59:00-14:00"}, "minute_start"),  # after 9999 in UTC
        ({"timezone": "Europe/Berlin\ud800"}, "timezone"),
        ({"minute_start": "2026-10-25T18:00:00+00:00"}, "minute_start"),  # over 30 days old
        ({"active_seconds": 61}, "active_seconds"),
        ({"keys": -1}, "keys"),
        ({"keys": MAX_COUNT + 1}, "keys"),
        ({"mouse_px": 2**31}, "mouse_px"),
        ({"clicks": True}, "clicks"),
        ({"scrolls": "3"}, "scrolls"),
        ({"mouse_px": 1.5}, "mouse_px"),
        ({"state": "asleep"}, "state"),
        ({"timezone": "local"}, "timezone"),
        ({"timezone": "Nowhere/City"}, "timezone"),
        ({"utc_offset_minutes": 16 * 60 + 1}, "utc_offset_minutes"),
        ({"utc_offset_minutes": -5000}, "utc_offset_minutes"),
        ({"key_names": ["a"]}, "key_names"),
        ({"active_seconds": None}, "active_seconds"),  # only the counts may be "not counted"
        ({"utc_offset_minutes": None}, "utc_offset_minutes"),
        ({"keys": "null"}, "keys"),
        ({"clicks": []}, "clicks"),
        ({"scrolls": {}}, "scrolls"),
        ({"mouse_px": False}, "mouse_px"),
    ],
)
def test_each_bad_sample_is_refused_naming_only_its_field(change: dict[str, Any], bad_field: str) -> None:
    assert set(refused_fields(good_json(**change))) == {f"sample.{bad_field}"}


def test_the_messages_are_the_ones_the_api_answers() -> None:
    errors = refused_fields(good_json(
        minute_start="2026-11-25T18:00:30+00:00", active_seconds=61, keys=MAX_COUNT + 1, clicks=True,
        state="asleep", timezone="local", extra=1,
    ))

    assert errors == {
        "sample.extra": "unknown field",
        "sample.minute_start": "must be the start of a whole minute",
        "sample.active_seconds": "must be between 0 and 60",
        "sample.keys": "must be between 0 and 2147483647",
        "sample.clicks": "must be a whole number",
        "sample.state": "must be one of tracking, idle, paused, suspended, idle_kept",
        "sample.timezone": "must be an IANA time zone name",
    }
    assert refused_fields(good_json(minute_start="yesterday")) == {
        "sample.minute_start": "must be an ISO 8601 datetime with a UTC offset"
    }


def test_missing_fields_are_named_and_a_non_object_is_refused_whole() -> None:
    errors = refused_fields({"minute_start": "2026-11-25T18:00:00+00:00"})

    assert errors["sample.keys"] == "is missing" and errors["sample.utc_offset_minutes"] == "is missing"
    assert refused_fields(["not", "an", "object"]) == {"sample": "must be an object"}
    with pytest.raises(InvalidSample) as caught:
        parse_sample(good_json(keys=-1), NOW, "samples[3]")
    assert set(caught.value.errors) == {"samples[3].keys"}


def test_a_sample_the_agent_builds_round_trips_through_the_servers_batch_parser_unchanged() -> None:
    wall = [MINUTE.timestamp() + 1]
    tracker = ActivityTracker(
        idle_threshold_seconds=300, timezone_name="Asia/Kolkata", wall_clock=lambda: wall[0]
    )
    tracker.on_key_press()
    tracker.on_move(0, 0)
    tracker.on_move(30, 40)
    wall[0] += 20
    tracker.on_click()
    tracker.on_scroll(2)
    built = tracker.collect(now=MINUTE.timestamp() + 60)
    assert [sample.keys for sample in built] == [1]

    parsed = list(parse_activity_batch({"samples": [sample.to_json() for sample in built]}, NOW).samples)

    assert parsed == built
    assert [sample.to_json() for sample in parsed] == [sample.to_json() for sample in built]


def test_a_minute_up_to_five_minutes_ahead_is_clock_skew_and_accepted() -> None:
    ahead = NOW.replace(second=0) + MAX_FUTURE_SKEW
    assert parse_sample(good_json(minute_start=ahead.isoformat()), NOW).minute_start == ahead


def test_devices_merge_per_minute_max_active_summed_counts_state_of_the_most_active() -> None:
    minute = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
    desktop = MinuteSample(minute, 40, 30, 5, 1, 900, "tracking", "Europe/Berlin", 60)
    laptop = MinuteSample(minute, 0, 0, 0, 0, 0, "idle", "UTC", 0)
    merged = merge_device_minutes([laptop, desktop])
    assert (merged.active_seconds, merged.keys, merged.clicks, merged.state) == (40, 30, 5, "tracking")
    assert merged.timezone == "Europe/Berlin"
    both_busy = merge_device_minutes([desktop, MinuteSample(minute, 50, 7, 1, 0, 10, "tracking", "UTC", 0)])
    assert (both_busy.active_seconds, both_busy.keys, both_busy.timezone) == (50, 37, "UTC")


@pytest.mark.parametrize(
    ("states", "winner"),
    [(("paused", "idle"), "idle"), (("suspended", "paused"), "paused"), (("idle", "tracking"), "tracking"),
     (("suspended", "idle", "paused"), "idle")],
)
def test_a_tie_on_active_seconds_goes_tracking_idle_paused_suspended(
    states: tuple[str, ...], winner: str
) -> None:
    minute = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
    samples = [MinuteSample(minute, 0, 0, 0, 0, 0, state, "UTC", 0) for state in states]
    assert merge_device_minutes(samples).state == winner


def test_null_counts_mean_not_counted_and_round_trip_as_null() -> None:
    uncounted = good_json(**{name: None for name in COUNT_FIELDS})
    sample = parse_sample(uncounted, NOW)
    assert [getattr(sample, name) for name in COUNT_FIELDS] == [None] * 4
    assert sample.active_seconds == 42 and sample.to_json() == uncounted
    one_null = parse_sample(good_json(clicks=None), NOW)
    assert (one_null.keys, one_null.clicks, one_null.scrolls) == (10, None, 3)
    (parsed,) = parse_activity_batch({"samples": [uncounted]}, NOW).samples
    assert parsed == sample


def test_a_missing_count_is_still_missing_not_uncounted() -> None:
    raw = good_json()
    del raw["mouse_px"]
    assert refused_fields(raw) == {"sample.mouse_px": "is missing"}


def test_counts_add_the_numbers_there_are_and_are_none_only_when_none_was_counted() -> None:
    assert add_counts([None, None]) is None
    assert add_counts([]) is None
    assert add_counts([None, 0]) == 0  # a counted 0 is a count
    assert add_counts([3, None, 4]) == 7


def test_a_counted_and_an_uncounted_device_merge_to_the_counted_numbers() -> None:
    minute = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
    desktop = MinuteSample(minute, 20, 30, 5, 1, 900, "tracking", "Europe/Berlin", 60)
    wayland = MinuteSample(minute, 55, None, None, None, None, "tracking", "UTC", 0)
    merged = merge_device_minutes([wayland, desktop])
    assert (merged.active_seconds, merged.timezone) == (55, "UTC")  # the most active device leads
    assert (merged.keys, merged.clicks, merged.scrolls, merged.mouse_px) == (30, 5, 1, 900)
    alone = merge_device_minutes([wayland, MinuteSample(minute, 0, None, None, None, None, "idle", "UTC", 0)])
    assert [getattr(alone, name) for name in COUNT_FIELDS] == [None] * 4
    assert alone.state == "tracking"
