"""Activity data: ``POST /activity`` bodies checked, minutes upserted per device, and read back by range."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from contract.activity import (
    COUNT_FIELDS,
    MAX_SAMPLES_PER_BATCH,
    InvalidSample,
    MinuteSample,
    merge_device_minutes,
    parse_sample,
)
from contract.devices import AgentHealth, DeviceIdentity, parse_agent_health, parse_device
from contract.errors import ConfigError
from server.db.agents import upsert_device
from server.db.models import ActivitySample, Device, User
from server.db.rollups import refresh_rollup, rollup_bucket_start

logger = logging.getLogger(__name__)


# pg_advisory_xact_lock(class, user id): the first key keeps these locks apart from any other use.
_ACTIVITY_LOCK_CLASS = 0x56_4E_41  # "VNA"


@dataclass(frozen=True, slots=True)
class RefusedSample:
    """One sample of a batch that was not stored, and why."""

    index: int
    field: str
    message: str

    def to_json(self) -> dict[str, Any]:
        """The entry of the answer's ``refused`` list (docs/API.md)."""
        return {"index": self.index, "field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class ActivityBatch:
    """A checked ``POST /activity`` body: the valid samples, the refused ones, device and agent report."""

    samples: tuple[MinuteSample, ...]
    refused: tuple[RefusedSample, ...]
    device: DeviceIdentity | None
    agent: AgentHealth | None


def _refusal(index: int, refused: InvalidSample) -> RefusedSample:
    """One entry per sample: its first bad field, the others named in the message."""
    (field, message), *others = sorted(refused.errors.items())
    if others:
        message += "; also " + "; ".join(f"{name}: {reason}" for name, reason in others)
    return RefusedSample(index, field, message)


def parse_activity_batch(payload: Any, now: datetime) -> ActivityBatch:
    """Check a ``POST /activity`` body: a whole-body problem raises ConfigError (nothing is stored),
    each bad sample is refused on its own."""
    if not isinstance(payload, Mapping):
        raise ConfigError({"body": "must be a JSON object"})
    errors = {key: "unknown field" for key in payload if key not in {"samples", "agent", "device"}}
    samples = payload.get("samples")
    if not isinstance(samples, list):
        errors["samples"] = "must be a list of samples"
    elif len(samples) > MAX_SAMPLES_PER_BATCH:
        errors["samples"] = f"at most {MAX_SAMPLES_PER_BATCH} samples per request"
    device = agent = None
    try:
        device = parse_device(payload.get("device"))
    except ConfigError as exc:
        errors.update(exc.errors)
    try:
        agent = parse_agent_health(payload.get("agent"))
    except ConfigError as exc:
        errors.update(exc.errors)
    if errors:
        raise ConfigError(errors)
    accepted: list[MinuteSample] = []
    refused: list[RefusedSample] = []
    for index, raw in enumerate(samples or []):
        try:
            accepted.append(parse_sample(raw, now, f"samples[{index}]"))
        except InvalidSample as invalid:
            refused.append(_refusal(index, invalid))
    return ActivityBatch(tuple(accepted), tuple(refused), device, agent)


def lock_user_activity(session: Session, user_id: int) -> None:
    """Serialise one user's activity writes until the transaction ends.

    Without it two concurrent posts recompute the same rollup bucket each from a snapshot missing
    the other's minute (PostgreSQL, READ COMMITTED), and the later write wins with a short total.
    SQLite already admits one writer at a time.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:lock_class, :user_id)"),
            {"lock_class": _ACTIVITY_LOCK_CLASS, "user_id": user_id},
        )


def store_activity(session: Session, user_id: int, batch: ActivityBatch, at: datetime) -> int:
    """File the batch under its device (made on first sight) and upsert its minutes; return minutes stored."""
    # The user's activity lock (lock_user_activity) taken by the device upsert itself: a round trip fewer.
    device_id = upsert_device(session, user_id, batch.device, batch.agent, at,
                              lock_class=_ACTIVITY_LOCK_CLASS)
    return upsert_activity(session, user_id, batch.samples, at, device_id=device_id)


def upsert_activity(
    session: Session, user_id: int, samples: Sequence[MinuteSample], at: datetime, *,
    device_id: int | None = None,
) -> int:
    """Insert or replace each minute of ``samples`` for the user's device; return how many were stored.

    ``device_id`` None files them under the user's default device.
    """
    latest: dict[datetime, MinuteSample] = {}
    for sample in samples:  # the same minute twice in one batch: the later one wins
        latest[sample.minute_start] = sample
    if not latest:
        return 0
    if device_id is None:
        lock_user_activity(session, user_id)
        device_id = upsert_device(session, user_id, None, None, at)
    rows = [
        {"user_id": user_id, "device_id": device_id, **sample.to_json(), "minute_start": sample.minute_start,
         "received_at": at}
        for sample in latest.values()
    ]
    session.execute(_activity_upsert(session.get_bind().dialect.name), rows)
    refresh_rollup(session.connection(), user_id, {rollup_bucket_start(minute) for minute in latest})
    return len(rows)


@functools.cache
def _activity_upsert(dialect: str) -> Any:
    """upsert_activity's statement, built once per dialect (its ``excluded`` alias cost ~1 ms a call)."""
    if dialect not in {"postgresql", "sqlite"}:
        raise RuntimeError(f"activity upsert is not implemented for {dialect}")
    # On the table, not the ORM class: the ORM bulk-insert path costs ~0.3 ms a call here.
    table = cast(Table, ActivitySample.__table__)
    statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(table)
    replaced_columns = (
        "active_seconds", "state", "timezone", "utc_offset_minutes", "received_at", *COUNT_FIELDS
    )
    replaced = {name: statement.excluded[name] for name in replaced_columns}
    return statement.on_conflict_do_update(
        index_elements=["user_id", "minute_start", "device_id"], set_=replaced
    )

@dataclass(frozen=True, slots=True)
class StoredMinute:
    """One stored minute of one device, as ``GET /api/activity`` lists it."""

    username: str
    device_uid: str
    device_name: str
    sample: MinuteSample


def activity_between(
    session: Session, user_id: int | None, start: datetime, end: datetime
) -> list[StoredMinute]:
    """Each device's minutes in ``[start, end)``, ordered by minute, user, device (all users when None)."""
    query = (
        select(ActivitySample, User.username, Device.uid, Device.name)
        .join(User, User.id == ActivitySample.user_id)
        .join(Device, Device.id == ActivitySample.device_id)
        .where(ActivitySample.minute_start >= start, ActivitySample.minute_start < end)
        .order_by(ActivitySample.minute_start, User.username, Device.uid)
    )
    if user_id is not None:
        query = query.where(ActivitySample.user_id == user_id)
    result = []
    for row, username, uid, name in session.execute(query):
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
        result.append(StoredMinute(username, uid, name, sample))
    return result


def merged_between(rows: Sequence[StoredMinute]) -> list[tuple[str, MinuteSample]]:
    """``(username, minute)`` with each user's devices merged per minute (the reports' rule), in order."""
    groups: dict[tuple[datetime, str], list[MinuteSample]] = {}
    for row in rows:
        groups.setdefault((row.sample.minute_start, row.username), []).append(row.sample)
    return [(username, merge_device_minutes(group)) for (_, username), group in groups.items()]
