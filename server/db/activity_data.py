"""Activity data: minute samples from agents, checked and upserted, and read back by range."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytz
from sqlalchemy import (
    select,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from contract.activity import COUNT_FIELDS, MAX_COUNT, int_error
from contract.errors import ConfigError
from server.db.agents import check_agent_report
from server.db.models import ActivitySample, User
from server.db.rollups import refresh_rollup, rollup_bucket_start

logger = logging.getLogger(__name__)


ACTIVITY_STATES = ("tracking", "idle", "paused", "suspended")


MAX_ACTIVITY_BATCH = 1000


ACTIVITY_MAX_AGE = timedelta(days=30)






@dataclass(frozen=True, slots=True)
class ActivityRecord:
    """One validated minute of activity, as the agent reports it."""

    minute_start: datetime
    active_seconds: int
    keys: int
    clicks: int
    scrolls: int
    mouse_px: int
    state: str
    timezone: str
    utc_offset_minutes: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (minute_start as ISO 8601 UTC)."""
        return {
            "minute_start": self.minute_start.isoformat(),
            "active_seconds": self.active_seconds,
            "keys": self.keys,
            "clicks": self.clicks,
            "scrolls": self.scrolls,
            "mouse_px": self.mouse_px,
            "state": self.state,
            "timezone": self.timezone,
            "utc_offset_minutes": self.utc_offset_minutes,
        }


def parse_utc_datetime(text: Any) -> datetime | None:
    """An ISO 8601 datetime with an offset (or ``Z``) as tz-aware UTC; None when unparseable or naive."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)




def _parse_sample(raw: Any, now: datetime, prefix: str, errors: dict[str, str]) -> ActivityRecord | None:
    if not isinstance(raw, Mapping):
        errors[prefix] = "must be an object"
        return None
    before = len(errors)
    allowed = {"minute_start", "active_seconds", "state", "timezone", "utc_offset_minutes", *COUNT_FIELDS}
    for key in raw:
        if key not in allowed:
            errors[f"{prefix}.{key}"] = "unknown field"
    minute_start = parse_utc_datetime(raw.get("minute_start"))
    if minute_start is None:
        errors[f"{prefix}.minute_start"] = "must be an ISO 8601 datetime with a UTC offset"
    elif minute_start.second or minute_start.microsecond:
        errors[f"{prefix}.minute_start"] = "must be the start of a whole minute"
    elif minute_start > now:
        errors[f"{prefix}.minute_start"] = "is in the future"
    elif minute_start < now - ACTIVITY_MAX_AGE:
        errors[f"{prefix}.minute_start"] = "is more than 30 days old"
    checks = {"active_seconds": (0, 60), "utc_offset_minutes": (-16 * 60, 16 * 60)}
    checks.update({name: (0, MAX_COUNT) for name in COUNT_FIELDS})
    for name, (minimum, maximum) in checks.items():
        if name not in raw:
            errors[f"{prefix}.{name}"] = "is missing"
            continue
        message = int_error(raw[name], minimum, maximum)
        if message is not None:
            errors[f"{prefix}.{name}"] = message
    if raw.get("state") not in ACTIVITY_STATES:
        errors[f"{prefix}.state"] = "must be one of " + ", ".join(ACTIVITY_STATES)
    zone = raw.get("timezone")
    if not isinstance(zone, str) or zone not in pytz.all_timezones_set:
        errors[f"{prefix}.timezone"] = "must be an IANA time zone name"
    if len(errors) != before or minute_start is None:
        return None
    return ActivityRecord(
        minute_start=minute_start,
        active_seconds=raw["active_seconds"],
        keys=raw["keys"],
        clicks=raw["clicks"],
        scrolls=raw["scrolls"],
        mouse_px=raw["mouse_px"],
        state=raw["state"],
        timezone=zone,  # type: ignore[arg-type]  # checked above
        utc_offset_minutes=raw["utc_offset_minutes"],
    )


def parse_activity_batch(payload: Any, now: datetime) -> list[ActivityRecord]:
    """Validate a ``POST /activity`` body; raise ConfigError naming every bad field (nothing is stored)."""
    if not isinstance(payload, Mapping):
        raise ConfigError({"body": "must be a JSON object"})
    unknown = {key: "unknown field" for key in payload if key not in {"samples", "agent"}}
    samples = payload.get("samples")
    if not isinstance(samples, list):
        raise ConfigError({**unknown, "samples": "must be a list of samples"})
    if len(samples) > MAX_ACTIVITY_BATCH:
        raise ConfigError({**unknown, "samples": f"at most {MAX_ACTIVITY_BATCH} samples per request"})
    errors: dict[str, str] = dict(unknown)
    check_agent_report(payload.get("agent"), errors)
    records = [_parse_sample(raw, now, f"samples[{index}]", errors) for index, raw in enumerate(samples)]
    if errors:
        raise ConfigError(errors)
    return [record for record in records if record is not None]


def upsert_activity(session: Session, user_id: int, records: Sequence[ActivityRecord], at: datetime) -> int:
    """Insert or replace each minute of ``records`` for the user; return how many minutes were stored."""
    latest: dict[datetime, ActivityRecord] = {}
    for record in records:  # the same minute twice in one batch: the later one wins
        latest[record.minute_start] = record
    if not latest:
        return 0
    rows = [
        {"user_id": user_id, **record.as_dict(), "minute_start": record.minute_start, "received_at": at}
        for record in latest.values()
    ]
    dialect = session.get_bind().dialect.name
    insert_function = postgresql_insert if dialect == "postgresql" else sqlite_insert
    if dialect not in {"postgresql", "sqlite"}:
        raise RuntimeError(f"activity upsert is not implemented for {dialect}")
    statement = insert_function(ActivitySample)
    replaced_columns = (
        "active_seconds", "state", "timezone", "utc_offset_minutes", "received_at", *COUNT_FIELDS
    )
    replaced = {name: statement.excluded[name] for name in replaced_columns}
    statement = statement.on_conflict_do_update(index_elements=["user_id", "minute_start"], set_=replaced)
    session.execute(statement, rows)
    refresh_rollup(session.connection(), user_id, {rollup_bucket_start(minute) for minute in latest})
    return len(rows)


def activity_between(
    session: Session, user_id: int | None, start: datetime, end: datetime
) -> list[tuple[str, ActivityRecord]]:
    """``(username, record)`` for minutes in ``[start, end)``, ordered by minute (all users when None)."""
    query = (
        select(ActivitySample, User.username)
        .join(User, User.id == ActivitySample.user_id)
        .where(ActivitySample.minute_start >= start, ActivitySample.minute_start < end)
        .order_by(ActivitySample.minute_start, User.username)
    )
    if user_id is not None:
        query = query.where(ActivitySample.user_id == user_id)
    result = []
    for row, username in session.execute(query):
        record = ActivityRecord(
            minute_start=row.minute_start,
            active_seconds=row.active_seconds,
            keys=row.keys,
            clicks=row.clicks,
            scrolls=row.scrolls,
            mouse_px=row.mouse_px,
            state=row.state,
            timezone=row.timezone,
            utc_offset_minutes=row.utc_offset_minutes,
        )
        result.append((username, record))
    return result
