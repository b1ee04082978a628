"""Sign-in counters as rows changed by one atomic statement each, on SQLite and PostgreSQL (issue 10 item 11).

Counting inserted rows and comparing afterwards let 60-100 concurrent bad passwords get 17-24 checks
against a limit of 10. Here every attempt first *reserves* its place with ``INSERT … ON CONFLICT DO
UPDATE … WHERE count < limit RETURNING``: the database serialises the writes on the row, so no more
than the limit are ever let through, whatever the concurrency. A success gives its place back.

Two kinds of counter share the table:

- a *window* counter allows ``maximum`` events per fixed window (15 minutes) counting the window
  before too, so no 15-minute span ever holds more than ``maximum`` (a window ending in a burst
  keeps the next one shut until it has passed);
- a *run* counter counts consecutive failures (no window) until :func:`reset`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, not_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.db.models import ThrottleCounter

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COUNTERS = ThrottleCounter.__table__.c


@dataclass(frozen=True, slots=True)
class WindowLimit:
    """At most ``maximum`` events of ``scope`` per key in any span of ``window``."""

    scope: str
    maximum: int
    window: timedelta


@dataclass(frozen=True, slots=True)
class RunLimit:
    """At most ``maximum`` consecutive events of ``scope`` per key, until a reset."""

    scope: str
    maximum: int


def counter_key(*parts: str) -> str:
    """How a counted thing is stored: the SHA-256 of its parts (never the submitted text itself)."""
    joined = "\x1f".join(parts)
    return hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()


def window_start(moment: datetime, window: timedelta) -> datetime:
    """The start of the fixed window holding ``moment`` (windows are aligned on the Unix epoch)."""
    length = int(window.total_seconds())
    seconds = int((moment - _EPOCH).total_seconds()) // length * length
    return _EPOCH + timedelta(seconds=seconds)


def _upsert(session: Session, values: dict[str, Any]) -> Any:
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(ThrottleCounter).values(**values)


def reserve_window(session: Session, limit: WindowLimit, key: str, now: datetime) -> int | None:
    """Count one event for ``key``: its count in this window, or None at the limit (nothing counted)."""
    current = window_start(now, limit.window)
    before = current - limit.window
    statement = _upsert(
        session,
        {"scope": limit.scope, "key": key, "window_start": current, "count": 1, "previous_count": 0,
         "updated_at": now},
    )
    this_window = case((_COUNTERS.window_start == current, _COUNTERS.count), else_=0)
    last_window = case(
        (_COUNTERS.window_start == current, _COUNTERS.previous_count),
        (_COUNTERS.window_start == before, _COUNTERS.count),
        else_=0,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["scope", "key"],
        set_={"count": this_window + 1, "previous_count": last_window, "window_start": current,
              "updated_at": now},
        where=(this_window + last_window) < limit.maximum,
    ).returning(_COUNTERS.count)
    row = session.execute(statement).first()
    return None if row is None else int(row[0])


def release_window(session: Session, limit: WindowLimit, key: str, now: datetime) -> None:
    """Give back one event counted in this window (a success that had reserved its place)."""
    session.execute(
        update(ThrottleCounter)
        .where(
            ThrottleCounter.scope == limit.scope, ThrottleCounter.key == key,
            ThrottleCounter.window_start == window_start(now, limit.window), ThrottleCounter.count > 0,
        )
        .values(count=ThrottleCounter.count - 1)
    )


def window_retry_after_seconds(session: Session, limit: WindowLimit, key: str, now: datetime) -> int:
    """Seconds until ``key`` may count another event (1 at least, the window's length at most)."""
    row = session.get(ThrottleCounter, (limit.scope, key))
    current = window_start(now, limit.window)
    if row is None or row.window_start < current - limit.window:
        return 1
    if row.window_start < current:
        count_now, count_before = 0, row.count
    else:
        count_now, count_before = row.count, row.previous_count
    # Next window: this one becomes "the one before"; it opens if this one is under the limit.
    opens_at = current + limit.window if count_now < limit.maximum else current + 2 * limit.window
    if count_now + count_before < limit.maximum:
        return 1
    return max(1, min(int((opens_at - now).total_seconds() + 0.999), int(2 * limit.window.total_seconds())))


def reserve_run(session: Session, limit: RunLimit, key: str, now: datetime) -> int | None:
    """Count one more consecutive event for ``key``; the run's length, or None when at the limit."""
    statement = _upsert(
        session,
        {"scope": limit.scope, "key": key, "window_start": _EPOCH, "count": 1, "previous_count": 0,
         "updated_at": now},
    )
    statement = statement.on_conflict_do_update(
        index_elements=["scope", "key"],
        set_={"count": _COUNTERS.count + 1, "updated_at": now},
        where=_COUNTERS.count < limit.maximum,
    ).returning(_COUNTERS.count)
    row = session.execute(statement).first()
    return None if row is None else int(row[0])


def run_length(session: Session, limit: RunLimit, key: str) -> int:
    """How many consecutive events ``key`` has now (0 when none)."""
    count = session.scalar(
        select(ThrottleCounter.count).where(ThrottleCounter.scope == limit.scope, ThrottleCounter.key == key)
    )
    return int(count or 0)


def reset(session: Session, scope: str, key: str) -> None:
    """Forget the counter (a success, or an administrator lifting a lock)."""
    session.execute(delete(ThrottleCounter).where(ThrottleCounter.scope == scope, ThrottleCounter.key == key))


def purge(session: Session, now: datetime, older_than: timedelta, runs: Iterable[RunLimit]) -> int:
    """Delete counters untouched for ``older_than``, except runs that reached their limit (a lock stays)."""
    held = [and_(ThrottleCounter.scope == run.scope, ThrottleCounter.count >= run.maximum) for run in runs]
    condition = ThrottleCounter.updated_at < now - older_than
    if held:
        condition = and_(condition, not_(or_(*held)))
    result = session.execute(delete(ThrottleCounter).where(condition))
    return int(getattr(result, "rowcount", 0) or 0)
