"""time_manager: UTC now, zone resolution, offsets, display strings and local-day bounds on DST days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

import time_manager
from contract.errors import ConfigError
from time_manager import (
    format_local_and_utc,
    local_date,
    local_day_bounds,
    resolve_zone,
    to_local,
    to_utc,
    utc_now,
    utc_offset_minutes,
    zone_name,
)


def at(text: str) -> datetime:
    """A UTC moment from ISO text (``2026-11-25T18:05:09``)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "day", "start_utc", "length_hours"),
    [
        # 23-hour spring day and 25-hour autumn day.
        ("America/New_York", date(2026, 3, 8), "2026-03-08T05:00:00", 23),
        ("America/New_York", date(2026, 11, 1), "2026-11-01T04:00:00", 25),
        ("Europe/Berlin", date(2026, 3, 29), "2026-03-28T23:00:00", 23),
        ("Europe/Berlin", date(2026, 10, 25), "2026-10-24T22:00:00", 25),
        # Lord Howe shifts by 30 minutes: 24.5-hour autumn day, 23.5-hour spring day.
        ("Australia/Lord_Howe", date(2026, 4, 5), "2026-04-04T13:00:00", 24.5),
        ("Australia/Lord_Howe", date(2026, 10, 4), "2026-10-03T13:30:00", 23.5),
        # No DST, half-hour offset.
        ("Asia/Kolkata", date(2026, 11, 25), "2026-11-24T18:30:00", 24),
        ("America/New_York", date(2026, 11, 25), "2026-11-25T05:00:00", 24),
        ("UTC", date(2026, 11, 25), "2026-11-25T00:00:00", 24),
        # Santiago's DST starts at midnight: 00:00 never happens, the day starts at 01:00.
        ("America/Santiago", date(2026, 9, 6), "2026-09-06T04:00:00", 23),
        ("America/Santiago", date(2026, 4, 4), "2026-04-04T03:00:00", 25),
    ],
)
def test_local_day_bounds_have_the_right_start_and_length_on_dst_days(
    zone: str, day: date, start_utc: str, length_hours: float
) -> None:
    start, end = local_day_bounds(day, zone)

    assert start == at(start_utc)
    assert end - start == timedelta(hours=length_hours)
    assert start.utcoffset() == timedelta(0)
    assert local_date(start, zone) == day
    assert local_date(end, zone) == day + timedelta(days=1)
    assert local_date(end - timedelta(seconds=1), zone) == day


def test_consecutive_local_days_tile_without_gap_or_overlap() -> None:
    day = date(2026, 3, 1)
    for _ in range(300):
        _, end = local_day_bounds(day, "Australia/Lord_Howe")
        next_start, _ = local_day_bounds(day + timedelta(days=1), "Australia/Lord_Howe")
        assert end == next_start
        day += timedelta(days=1)


@pytest.mark.parametrize(
    ("zone", "moment", "offset_minutes"),
    [
        ("Asia/Kolkata", "2026-11-25T18:00:00", 330),
        ("America/New_York", "2026-11-25T18:00:00", -300),
        ("America/New_York", "2026-07-01T18:00:00", -240),
        ("Europe/Berlin", "2026-07-01T12:00:00", 120),
        ("Australia/Lord_Howe", "2026-07-01T12:00:00", 630),
        ("Australia/Lord_Howe", "2026-12-01T12:00:00", 660),
        # One second either side of New York's spring change at 07:00 UTC.
        ("America/New_York", "2026-03-08T06:59:59", -300),
        ("America/New_York", "2026-03-08T07:00:00", -240),
    ],
)
def test_utc_offset_minutes_follows_the_zone_rules(zone: str, moment: str, offset_minutes: int) -> None:
    assert utc_offset_minutes(at(moment), zone) == offset_minutes


def test_format_local_and_utc_shows_local_time_with_abbreviation_and_utc() -> None:
    moment = at("2026-11-25T18:05:09")

    assert format_local_and_utc(moment, "America/New_York") == "2026-11-25 13:05:09 EST (18:05:09 UTC)"
    assert format_local_and_utc(moment, "Asia/Kolkata") == "2026-11-25 23:35:09 IST (18:05:09 UTC)"
    assert format_local_and_utc(moment, "UTC") == "2026-11-25 18:05:09 UTC (18:05:09 UTC)"


def test_format_local_and_utc_dates_the_utc_part_when_the_day_differs() -> None:
    moment = at("2026-11-26T02:00:00")

    assert format_local_and_utc(moment, "America/New_York") == (
        "2026-11-25 21:00:00 EST (2026-11-26 02:00:00 UTC)"
    )


def test_to_local_keeps_the_instant() -> None:
    moment = at("2026-10-25T00:30:00")

    local = to_local(moment, "Europe/Berlin")

    assert (local.hour, local.minute, local.tzname()) == (2, 30, "CEST")
    assert local == moment


def test_utc_now_is_aware_utc_and_current() -> None:
    now = utc_now()

    assert now.utcoffset() == timedelta(0)
    assert abs((now - datetime.now(UTC)).total_seconds()) < 5


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        to_local(datetime(2026, 11, 25, 12, 0), "UTC")
    with pytest.raises(ValueError, match="naive"):
        to_utc(datetime(2026, 11, 25, 12, 0))


def test_unknown_zone_is_a_config_error_naming_the_timezone_field() -> None:
    with pytest.raises(ConfigError) as caught:
        zone_name("Mars/Olympus_Mons")

    assert set(caught.value.errors) == {"timezone"}
    with pytest.raises(ConfigError):
        resolve_zone("EST-ish")


def test_local_follows_the_tz_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    assert zone_name("local") == "Asia/Kolkata"
    assert utc_offset_minutes(at("2026-11-25T00:00:00"), "local") == 330

    monkeypatch.setenv("TZ", ":Europe/Berlin")
    assert zone_name("local") == "Europe/Berlin"

    monkeypatch.setenv("TZ", "/usr/share/zoneinfo/America/New_York")
    assert zone_name("local") == "America/New_York"


def test_local_falls_back_to_the_localtime_link_then_utc(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TZ", raising=False)
    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/Australia/Lord_Howe")
    monkeypatch.setattr(time_manager, "LOCALTIME_PATH", link)
    assert zone_name("local") == "Australia/Lord_Howe"

    monkeypatch.setattr(time_manager, "LOCALTIME_PATH", tmp_path / "missing")
    assert zone_name("local") == "UTC"

    monkeypatch.setenv("TZ", "not a zone")
    assert zone_name("local") == "UTC"
