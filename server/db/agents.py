"""A user's devices (agent installations) and the newest report each agent sent with its activity."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from contract.devices import DEFAULT_DEVICE_NAME, DEFAULT_DEVICE_UID, AgentHealth, DeviceIdentity
from server.db.models import Device, UtcDateTime

logger = logging.getLogger(__name__)


_REPORT_FIELDS = ("uploads_waiting", "kept_aside", "minutes_set_aside", "input_ok", "input_restarts")


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """One device as the Team and Diary pages show it."""

    uid: str
    name: str
    first_seen_at: datetime
    last_seen_at: datetime
    uploads_waiting: int | None
    kept_aside: int | None
    minutes_set_aside: int | None
    input_ok: bool | None
    input_restarts: int | None
    reported_at: datetime | None

    @property
    def input_warning(self) -> str | None:
        """Plain words when the agent's input listeners died or were restarted, else None."""
        if self.input_ok is False:
            return "input listeners are not running: minutes may show as idle"
        if self.input_restarts:
            return f"input listeners restarted {self.input_restarts} times"
        return None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.uid, "name": self.name, "first_seen_at": self.first_seen_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat(),
            **{name: getattr(self, name) for name in _REPORT_FIELDS},
            "reported_at": self.reported_at.isoformat() if self.reported_at is not None else None,
            "input_warning": self.input_warning,
        }


def upsert_device(
    session: Session, user_id: int, identity: DeviceIdentity | None, health: AgentHealth | None, at: datetime,
    *, lock_class: int | None = None,
) -> int:
    """The id of the user's device (made on first sight), its last-seen time and report updated.

    One ``INSERT … ON CONFLICT (user_id, uid) DO UPDATE``, so two first posts of one device never
    collide. No identity means an old agent: the user's default device. A report field the agent
    did not send keeps its stored value. ``lock_class``: on PostgreSQL the same statement first takes
    the transaction's advisory lock ``(lock_class, user_id)``, a round trip fewer than a SELECT of it;
    SQLite admits one writer at a time, so there is nothing to take.
    """
    uid = identity.id if identity is not None else DEFAULT_DEVICE_UID
    name = identity.name if identity is not None else DEFAULT_DEVICE_NAME
    row = {"user_id": user_id, "uid": uid, "name": name, "first_seen_at": at, "last_seen_at": at}
    if health is not None:
        row.update({field: getattr(health, field) for field in _REPORT_FIELDS}, reported_at=at)
    dialect = session.get_bind().dialect.name
    locked = lock_class is not None and dialect == "postgresql"
    if locked:
        row.update(lock_class=lock_class, lock_user_id=user_id, locked_first_seen_at=at)
    device_id = session.execute(_device_upsert(dialect, health is not None, locked), row).scalar_one()
    return int(device_id)


@functools.cache
def _device_upsert(dialect: str, with_report: bool, locked: bool = False) -> Any:
    """upsert_device's statement, built once per dialect and shape; the row comes as parameters.

    Built per call it cost more CPU than the database spent running it (issue 14's load).
    """
    if dialect not in {"postgresql", "sqlite"}:
        raise RuntimeError(f"device upsert is not implemented for {dialect}")
    # On the table, not the mapped class: a Core statement skips the ORM's bulk-insert machinery,
    # which cost about as much CPU again (issue 14's load).
    devices = cast(Table, Device.__table__)
    statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(devices)
    if locked:
        # The row's first_seen_at comes through the lock: PostgreSQL forms the row (taking the lock)
        # before it inserts it or meets the conflict, so the lock is held before anything is written.
        lock = func.pg_advisory_xact_lock(bindparam("lock_class", type_=Integer()),
                                          bindparam("lock_user_id", type_=Integer()))
        first_seen = select(bindparam("locked_first_seen_at", type_=UtcDateTime())).select_from(lock)
        statement = statement.values(first_seen_at=first_seen.scalar_subquery())
    table = devices.c
    excluded = statement.excluded
    updates: dict[str, Any] = {"name": excluded.name, "last_seen_at": excluded.last_seen_at}
    if with_report:
        updates.update({name: func.coalesce(excluded[name], table[name]) for name in _REPORT_FIELDS})
        updates["reported_at"] = excluded.reported_at
    upsert = statement.on_conflict_do_update(index_elements=["user_id", "uid"], set_=updates)
    return upsert.returning(table.id)


_DEVICE_ID = select(Device.__table__.c.id).where(
    Device.__table__.c.user_id == bindparam("user_id"), Device.__table__.c.uid == bindparam("uid")
)


def device_id_of(session: Session, user_id: int, uid: str) -> int | None:
    """The id of the user's device ``uid``, or None when the server has not seen it."""
    found = session.execute(_DEVICE_ID, {"user_id": user_id, "uid": uid}).scalar_one_or_none()
    return None if found is None else int(found)


def devices_of(session: Session, user_ids: Sequence[int]) -> dict[int, list[DeviceStatus]]:
    """Each user's devices, most recently seen first."""
    query = (
        select(Device)
        .where(Device.user_id.in_(list(user_ids)))
        .order_by(Device.user_id, Device.last_seen_at.desc(), Device.uid)
    )
    result: dict[int, list[DeviceStatus]] = {user_id: [] for user_id in user_ids}
    for row in session.scalars(query):
        result.setdefault(row.user_id, []).append(
            DeviceStatus(
                uid=row.uid, name=row.name, first_seen_at=row.first_seen_at, last_seen_at=row.last_seen_at,
                uploads_waiting=row.uploads_waiting, kept_aside=row.kept_aside,
                minutes_set_aside=row.minutes_set_aside, input_ok=row.input_ok,
                input_restarts=row.input_restarts, reported_at=row.reported_at,
            )
        )
    return result
