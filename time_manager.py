"""UTC now, IANA zone conversion, display strings and local-day bounds.

Every timestamp Vinova stores is a timezone-aware UTC ``datetime``; local time exists only
for display and for "which local day is this". Zones are pytz zones, named by IANA name,
or ``"local"`` for the system's zone (the ``TZ`` variable, else the ``/etc/localtime``
symlink, else UTC). Naive datetimes are refused with ``ValueError``: a naive moment is a bug.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, tzinfo
from datetime import time as clock_time
from pathlib import Path

import pytz

from contract.errors import ConfigError

LOCAL_TIMEZONE = "local"
UTC = pytz.utc
LOCALTIME_PATH = Path("/etc/localtime")
_ZONEINFO_MARKER = "zoneinfo/"


def utc_now() -> datetime:
    """The current moment as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def utc_from_timestamp(seconds: float) -> datetime:
    """A POSIX timestamp (seconds since the epoch) as a timezone-aware UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC)


def _require_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone; use UTC")
    return moment


def to_utc(moment: datetime) -> datetime:
    """The same instant expressed in UTC (naive datetimes are refused)."""
    return _require_aware(moment).astimezone(UTC)


def _name_from_tz_variable(value: str) -> str | None:
    """The IANA name in a ``TZ`` value (``Europe/Berlin``, ``:Europe/Berlin`` or a zoneinfo path)."""
    candidate = value.strip().lstrip(":")
    if candidate in pytz.all_timezones_set:
        return candidate
    if _ZONEINFO_MARKER in candidate:
        tail = candidate.split(_ZONEINFO_MARKER, 1)[1]
        if tail in pytz.all_timezones_set:
            return tail
    return None


def _name_from_localtime_link(path: Path) -> str | None:
    """The IANA name the ``/etc/localtime`` symlink points at, if it is one."""
    try:
        target = os.readlink(path)
    except OSError:
        return None
    if _ZONEINFO_MARKER not in target:
        return None
    tail = target.split(_ZONEINFO_MARKER, 1)[1]
    return tail if tail in pytz.all_timezones_set else None


def system_zone_name() -> str:
    """The IANA name of the system zone: ``TZ``, else the /etc/localtime link target, else UTC."""
    tz_variable = os.environ.get("TZ")
    if tz_variable:
        from_variable = _name_from_tz_variable(tz_variable)
        if from_variable is not None:
            return from_variable
    from_link = _name_from_localtime_link(LOCALTIME_PATH)
    return from_link if from_link is not None else "UTC"


def zone_name(name: str) -> str:
    """The IANA name actually in force for ``name`` ("local" resolved); ConfigError if unknown."""
    if name == LOCAL_TIMEZONE:
        return system_zone_name()
    if name not in pytz.all_timezones_set:
        raise ConfigError(
            {"timezone": f'unknown time zone {name!r}: use an IANA name (e.g. "Europe/Berlin") or "local"'}
        )
    return name


def resolve_zone(name: str) -> tzinfo:
    """The pytz zone for an IANA name or "local"; ConfigError for an unknown name."""
    return pytz.timezone(zone_name(name))


def to_local(moment: datetime, zone_name: str) -> datetime:
    """``moment`` as wall-clock time in the zone (IANA name or "local")."""
    return _require_aware(moment).astimezone(resolve_zone(zone_name))


def utc_offset_minutes(moment: datetime, zone_name: str) -> int:
    """The zone's offset from UTC at ``moment``, in minutes (Kolkata: 330, New York in winter: -300)."""
    offset = to_local(moment, zone_name).utcoffset()
    assert offset is not None  # an aware datetime from a pytz zone always has one
    return round(offset.total_seconds() / 60)


def format_local_and_utc(moment: datetime, zone_name: str) -> str:
    """Local time with zone abbreviation and UTC, e.g. ``2026-11-25 13:05:09 EST (18:05:09 UTC)``.

    The UTC part carries its own date when it falls on another day than the local part.
    """
    local = to_local(moment, zone_name)
    utc = to_utc(moment)
    utc_part = f"{utc:%H:%M:%S}" if utc.date() == local.date() else f"{utc:%Y-%m-%d %H:%M:%S}"
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()} ({utc_part} UTC)"


def _first_utc_instant_at(naive_local: datetime, zone: tzinfo) -> datetime:
    """The earliest UTC instant whose wall-clock time in ``zone`` is ``naive_local`` or, if that
    time is skipped by a DST gap, the first instant after the gap."""
    localize = zone.localize  # type: ignore[attr-defined]  # every pytz zone has it
    try:
        return to_utc(localize(naive_local, is_dst=None))
    except pytz.AmbiguousTimeError:
        # The wall-clock time happens twice (clocks went back): the day starts at the first one.
        return min(
            to_utc(localize(naive_local, is_dst=True)), to_utc(localize(naive_local, is_dst=False))
        )
    except pytz.NonExistentTimeError:
        # Clocks jumped over this time (e.g. Havana, Santiago: DST starts at midnight).
        # The offset changes once inside [earliest, latest]; find the change by bisection.
        earliest, latest = sorted(
            int(to_utc(localize(naive_local, is_dst=flag)).timestamp()) for flag in (True, False)
        )
        naive_target = naive_local.replace(tzinfo=None)
        # Invariant: wall clock at `earliest` is before the target, at `latest` not before it.
        while latest - earliest > 1:
            middle = (earliest + latest) // 2
            if utc_from_timestamp(middle).astimezone(zone).replace(tzinfo=None) >= naive_target:
                latest = middle
            else:
                earliest = middle
        return utc_from_timestamp(latest)


def local_day_bounds(day: date, zone_name: str) -> tuple[datetime, datetime]:
    """UTC ``[start, end)`` of the local calendar ``day`` in the zone.

    Right on DST days: New York's 2026-03-08 is 23 h long, 2026-11-01 25 h; Lord Howe's
    spring day is 23.5 h (30-minute DST); a day whose midnight is skipped starts after the gap.
    """
    zone = resolve_zone(zone_name)
    start = _first_utc_instant_at(datetime.combine(day, clock_time(0)), zone)
    end = _first_utc_instant_at(datetime.combine(day + timedelta(days=1), clock_time(0)), zone)
    return start, end


def local_date(moment: datetime, zone_name: str) -> date:
    """The local calendar date of ``moment`` in the zone."""
    return to_local(moment, zone_name).date()
