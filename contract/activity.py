"""The minute sample of ``POST /activity``: the activity states, its fields, its bounds and its validator.

The agent builds :class:`MinuteSample` values and sends :meth:`MinuteSample.to_json`; the server
checks each one with :func:`parse_sample` and stores and returns the same type. The bounds are
the server's (docs/API.md "Activity"): counts fit the database's 32-bit columns, offsets are
within ±16 hours, a minute is at most 5 minutes in the future (clock skew) and at most 30 days old.
Several devices of one user may report the same minute; :func:`merge_device_minutes` is the one rule
that makes one minute of them (the server's SQL follows it, tests hold them together).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytz

import time_manager
from contract.errors import ConfigError

logger = logging.getLogger(__name__)


STATE_TRACKING = "tracking"


STATE_IDLE = "idle"


STATE_PAUSED = "paused"


STATE_SUSPENDED = "suspended"


# Idle minutes the person said were work (the window's question after idle): tracked, 0 activity.
STATE_IDLE_KEPT = "idle_kept"


STATES: tuple[str, ...] = (STATE_TRACKING, STATE_IDLE, STATE_PAUSED, STATE_SUSPENDED, STATE_IDLE_KEPT)


# The states whose minutes are tracked time (the denominator of the activity %).
TRACKED_STATES: frozenset[str] = frozenset({STATE_TRACKING, STATE_IDLE_KEPT})


SECONDS_PER_MINUTE = 60


# The database keeps counts in 32-bit signed columns.
MAX_COUNT = 2**31 - 1


COUNT_FIELDS = ("keys", "clicks", "scrolls", "mouse_px")


# The counts of a device that cannot see input events (a Wayland session without evdev access) are
# ``None`` -- JSON ``null``, "not counted" -- never 0: its activity comes from the idle protocol alone.
# Sums over several minutes or devices add the numbers there are and stay None only when all are None.


# Real zones span -12:00..+14:00; the margin admits any historical local mean time.
MAX_UTC_OFFSET_MINUTES = 16 * 60


MAX_SAMPLE_AGE = timedelta(days=30)


# An agent clock a little ahead of the server's must not stop delivery (issue 10, item 6).
MAX_FUTURE_SKEW = timedelta(minutes=5)


# When devices tie on active seconds, the merged minute takes the first of these states. ``idle_kept``
# comes right after ``tracking``: it is the person's own word that the minute was work, which a second
# device that merely saw no input (``idle``) must not overrule; a device with input still wins.
STATE_PRECEDENCE: tuple[str, ...] = (
    STATE_TRACKING, STATE_IDLE_KEPT, STATE_IDLE, STATE_PAUSED, STATE_SUSPENDED,
)


MAX_SAMPLES_PER_BATCH = 1000


def activity_percent(active_seconds: int, tracked_seconds: float) -> int | None:
    """The one activity %: active seconds as a whole percentage of tracked seconds, at most 100.

    Tracked seconds are the seconds of ``tracking`` and ``idle_kept`` minutes (an idle minute the
    person counted as work is tracked with 0 activity; idle, paused and suspended time is not).
    Window, diary, reports and CSV all call this; None when nothing was tracked.
    """
    if tracked_seconds <= 0:
        return None
    return min(100, round(100 * active_seconds / tracked_seconds))


@dataclass(frozen=True, slots=True)
class MinuteSample:
    """The activity of one UTC minute; exactly one sample of ``POST /activity`` (docs/API.md)."""

    minute_start: datetime
    active_seconds: int
    keys: int | None
    clicks: int | None
    scrolls: int | None
    mouse_px: int | None
    state: str
    timezone: str
    utc_offset_minutes: int

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this sample (``minute_start`` as ISO 8601 with ``+00:00``)."""
        return {
            "minute_start": time_manager.to_utc(self.minute_start).isoformat(),
            "active_seconds": self.active_seconds,
            "keys": self.keys,
            "clicks": self.clicks,
            "scrolls": self.scrolls,
            "mouse_px": self.mouse_px,
            "state": self.state,
            "timezone": self.timezone,
            "utc_offset_minutes": self.utc_offset_minutes,
        }


_SAMPLE_FIELDS = frozenset(MinuteSample.__dataclass_fields__)


# Checked in this order, so the error fields come out in the order the API has always named them.
_WHOLE_NUMBER_BOUNDS: tuple[tuple[str, int, int], ...] = (
    ("active_seconds", 0, SECONDS_PER_MINUTE),
    ("utc_offset_minutes", -MAX_UTC_OFFSET_MINUTES, MAX_UTC_OFFSET_MINUTES),
    *((name, 0, MAX_COUNT) for name in COUNT_FIELDS),
)


# The fields that may be JSON null (not counted on this device).
_NULLABLE_FIELDS = frozenset(COUNT_FIELDS)


class InvalidSample(ConfigError):
    """A sample's JSON is malformed; ``errors`` maps each bad field (``<name>.<field>``) to its message.

    A :class:`ConfigError`, so the server answers it as ``400 validation_error`` like any bad body.
    """

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        detail = "; ".join(f"{field}: {message}" for field, message in sorted(self.errors.items()))
        self.args = (f"invalid activity sample: {detail}",)


def int_error(value: Any, minimum: int, maximum: int) -> str | None:
    """Why ``value`` is not a whole number in ``[minimum, maximum]`` (booleans are not), or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be a whole number"
    if not minimum <= value <= maximum:
        return f"must be between {minimum} and {maximum}"
    return None


def parse_sample(raw: Any, now: datetime, name: str = "sample") -> MinuteSample:
    """Check one sample's JSON received at ``now``; raise InvalidSample naming every bad ``name.field``."""
    if not isinstance(raw, Mapping):
        raise InvalidSample({name: "must be an object"})
    errors: dict[str, str] = {}
    for key in raw:
        if key not in _SAMPLE_FIELDS:
            errors[f"{name}.{key}"] = "unknown field"
    minute_start, message = _minute_start(raw.get("minute_start"), now)
    if message is not None:
        errors[f"{name}.minute_start"] = message
    for field, minimum, maximum in _WHOLE_NUMBER_BOUNDS:
        if field not in raw:
            errors[f"{name}.{field}"] = "is missing"
            continue
        if raw[field] is None and field in _NULLABLE_FIELDS:
            continue
        message = int_error(raw[field], minimum, maximum)
        if message is not None:
            errors[f"{name}.{field}"] = message
    state = raw.get("state")
    if state not in STATES:
        errors[f"{name}.state"] = "must be one of " + ", ".join(STATES)
    zone = raw.get("timezone")
    if not isinstance(zone, str) or zone not in pytz.all_timezones_set:
        errors[f"{name}.timezone"] = "must be an IANA time zone name"
    if errors or minute_start is None:
        raise InvalidSample(errors)
    return MinuteSample(
        minute_start=minute_start,
        active_seconds=raw["active_seconds"],
        keys=raw["keys"],
        clicks=raw["clicks"],
        scrolls=raw["scrolls"],
        mouse_px=raw["mouse_px"],
        state=str(state),
        timezone=str(zone),
        utc_offset_minutes=raw["utc_offset_minutes"],
    )


def _minute_start(value: Any, now: datetime) -> tuple[datetime | None, str | None]:
    """The sample's minute as tz-aware UTC, or why it is refused."""
    moment = None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
    if moment is None or moment.tzinfo is None:
        return None, "must be an ISO 8601 datetime with a UTC offset"
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 lies before year 1 in UTC
        return None, "is out of range"
    if moment.second or moment.microsecond:
        return None, "must be the start of a whole minute"
    if moment > now + MAX_FUTURE_SKEW:
        return None, "is more than 5 minutes in the future"
    if moment < now - MAX_SAMPLE_AGE:
        return None, "is more than 30 days old"
    return moment, None


def add_counts(values: Iterable[int | None]) -> int | None:
    """The sum of the counts there are; None when none was counted (see ``COUNT_FIELDS``)."""
    numbers = [value for value in values if value is not None]
    return sum(numbers) if numbers else None


def _merge_rank(sample: MinuteSample) -> tuple[int, int]:
    return sample.active_seconds, -STATE_PRECEDENCE.index(sample.state)


def merge_device_minutes(samples: Sequence[MinuteSample]) -> MinuteSample:
    """One minute of several devices: the most active device's state (and zone), the largest active
    seconds (at most 60), every count summed (None only if no device counted it); ties go
    tracking > idle_kept > idle > paused > suspended."""
    if not samples:
        raise ValueError("nothing to merge")
    leader = max(samples, key=_merge_rank)
    totals = {name: add_counts(getattr(sample, name) for sample in samples) for name in COUNT_FIELDS}
    return MinuteSample(
        minute_start=leader.minute_start,
        active_seconds=min(SECONDS_PER_MINUTE, leader.active_seconds),
        state=leader.state,
        timezone=leader.timezone,
        utc_offset_minutes=leader.utc_offset_minutes,
        **totals,
    )
