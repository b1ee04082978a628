"""Activity data: ``POST /activity`` bodies checked as a whole, minutes upserted, and read back by range."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from contract.activity import COUNT_FIELDS, MAX_SAMPLES_PER_BATCH, InvalidSample, MinuteSample, parse_sample
from contract.errors import ConfigError
from server.db.agents import check_agent_report
from server.db.models import ActivitySample, User
from server.db.rollups import refresh_rollup, rollup_bucket_start

logger = logging.getLogger(__name__)


def parse_activity_batch(payload: Any, now: datetime) -> list[MinuteSample]:
    """Validate a ``POST /activity`` body; raise ConfigError naming every bad field (nothing is stored)."""
    if not isinstance(payload, Mapping):
        raise ConfigError({"body": "must be a JSON object"})
    unknown = {key: "unknown field" for key in payload if key not in {"samples", "agent"}}
    samples = payload.get("samples")
    if not isinstance(samples, list):
        raise ConfigError({**unknown, "samples": "must be a list of samples"})
    if len(samples) > MAX_SAMPLES_PER_BATCH:
        raise ConfigError({**unknown, "samples": f"at most {MAX_SAMPLES_PER_BATCH} samples per request"})
    errors: dict[str, str] = dict(unknown)
    check_agent_report(payload.get("agent"), errors)
    parsed = []
    for index, raw in enumerate(samples):
        try:
            parsed.append(parse_sample(raw, now, f"samples[{index}]"))
        except InvalidSample as refused:
            errors.update(refused.errors)
    if errors:
        raise ConfigError(errors)
    return parsed


def upsert_activity(session: Session, user_id: int, samples: Sequence[MinuteSample], at: datetime) -> int:
    """Insert or replace each minute of ``samples`` for the user; return how many minutes were stored."""
    latest: dict[datetime, MinuteSample] = {}
    for sample in samples:  # the same minute twice in one batch: the later one wins
        latest[sample.minute_start] = sample
    if not latest:
        return 0
    rows = [
        {"user_id": user_id, **sample.to_json(), "minute_start": sample.minute_start, "received_at": at}
        for sample in latest.values()
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
) -> list[tuple[str, MinuteSample]]:
    """``(username, sample)`` for minutes in ``[start, end)``, ordered by minute (all users when None)."""
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
        sample = MinuteSample(
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
        result.append((username, sample))
    return result
