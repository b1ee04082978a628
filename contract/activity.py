"""The minute sample of ``POST /activity``: the activity states, its fields, bounds and validator."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytz

import time_manager

logger = logging.getLogger(__name__)


STATE_TRACKING = "tracking"


STATE_IDLE = "idle"


STATE_PAUSED = "paused"


STATE_SUSPENDED = "suspended"


STATES: tuple[str, ...] = (STATE_TRACKING, STATE_IDLE, STATE_PAUSED, STATE_SUSPENDED)


SECONDS_PER_MINUTE = 60


MAX_UTC_OFFSET_MINUTES = 24 * 60


@dataclass(frozen=True, slots=True)
class MinuteSample:
    """The activity of one UTC minute; exactly one sample of ``POST /activity`` (docs/API.md)."""

    minute_start: datetime
    active_seconds: int
    keys: int
    clicks: int
    scrolls: int
    mouse_px: int
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

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MinuteSample:
        """Parse and check one sample; raise :class:`InvalidSample` naming every bad field."""
        if not isinstance(data, Mapping):
            raise InvalidSample({"sample": "must be a JSON object"})
        errors: dict[str, str] = {}
        minute_start = _parse_minute_start(data.get("minute_start"), errors)
        whole: dict[str, int] = {}
        for name, low, high in (
            ("active_seconds", 0, SECONDS_PER_MINUTE),
            ("keys", 0, None),
            ("clicks", 0, None),
            ("scrolls", 0, None),
            ("mouse_px", 0, None),
            ("utc_offset_minutes", -MAX_UTC_OFFSET_MINUTES, MAX_UTC_OFFSET_MINUTES),
        ):
            value = data.get(name)
            if isinstance(value, bool) or not isinstance(value, int):
                errors[name] = "is missing" if name not in data else "must be a whole number"
            elif value < low or (high is not None and value > high):
                errors[name] = f"must be between {low} and {high}" if high is not None else "must be >= 0"
            else:
                whole[name] = value
        state = data.get("state")
        if state not in STATES:
            errors["state"] = "must be one of " + ", ".join(STATES)
        zone = data.get("timezone")
        if not isinstance(zone, str) or zone not in pytz.all_timezones_set:
            errors["timezone"] = "must be an IANA time zone name"
        unknown = sorted(str(key) for key in data if key not in _SAMPLE_FIELDS)
        for key in unknown:
            errors[key] = "unknown field"
        if errors or minute_start is None:
            raise InvalidSample(errors)
        return cls(
            minute_start=minute_start,
            active_seconds=whole["active_seconds"],
            keys=whole["keys"],
            clicks=whole["clicks"],
            scrolls=whole["scrolls"],
            mouse_px=whole["mouse_px"],
            state=str(state),
            timezone=str(zone),
            utc_offset_minutes=whole["utc_offset_minutes"],
        )


_SAMPLE_FIELDS = frozenset(MinuteSample.__dataclass_fields__)


class InvalidSample(ValueError):
    """A sample's JSON is malformed; ``errors`` maps each bad field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        detail = "; ".join(f"{field}: {message}" for field, message in sorted(self.errors.items()))
        super().__init__(f"invalid activity sample: {detail}")


def _parse_minute_start(value: Any, errors: dict[str, str]) -> datetime | None:
    if not isinstance(value, str):
        errors["minute_start"] = "must be an ISO 8601 date-time with a UTC offset"
        return None
    try:
        moment = time_manager.parse_utc(value)
    except ValueError:
        errors["minute_start"] = "must be an ISO 8601 date-time with a UTC offset"
        return None
    if moment.second or moment.microsecond:
        errors["minute_start"] = "must be the start of a whole minute"
        return None
    return moment


MAX_COUNT = 2**31 - 1


COUNT_FIELDS = ("keys", "clicks", "scrolls", "mouse_px")


def int_error(value: Any, minimum: int, maximum: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be a whole number"
    if not minimum <= value <= maximum:
        return f"must be between {minimum} and {maximum}"
    return None
