"""The 15-minute activity rollup the upsert keeps and the range reports read.

A bucket's count is NULL when none of its minutes was counted (migration 0011), as SQL's SUM gives.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Integer, Table, bindparam, case, delete, func, insert, literal, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from contract.activity import COUNT_FIELDS, STATE_TRACKING, STATES
from server.db.device_minutes import merged_minutes
from server.db.models import ActivityRollup, ActivitySample, UtcDateTime

logger = logging.getLogger(__name__)


ROLLUP_MINUTES = 15


ROLLUP_SECONDS = ROLLUP_MINUTES * 60


# In the order of :data:`contract.activity.STATES` (``idle_kept_minutes`` last of them, migration 0010).
ROLLUP_COLUMNS = (
    "sample_minutes", *(f"{state}_minutes" for state in STATES), "active_seconds", *COUNT_FIELDS,
)


class bucket_start_of(FunctionElement[datetime]):
    """The start of the 15-minute UTC bucket holding a stored UTC timestamp, in the column's own form."""

    type = UtcDateTime()
    inherit_cache = True


# The bucket length is written into the SQL, not bound, so GROUP BY repeats the SELECT's expression.
@compiles(bucket_start_of, "sqlite")
def _bucket_start_sqlite(element: bucket_start_of, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps naive UTC text as 'YYYY-MM-DD HH:MM:SS.ffffff' (UtcDateTime); match it exactly,
    # since bounds are compared as text.
    moment = compiler.process(element.clauses, **kw)
    return (
        f"(datetime(CAST(strftime('%s', {moment}) AS INTEGER) / {ROLLUP_SECONDS} * {ROLLUP_SECONDS},"
        " 'unixepoch') || '.000000')"
    )


@compiles(bucket_start_of, "postgresql")
def _bucket_start_postgresql(element: bucket_start_of, compiler: SQLCompiler, **kw: Any) -> str:
    moment = compiler.process(element.clauses, **kw)
    return (
        f"to_timestamp(floor(EXTRACT(EPOCH FROM {moment}) / {ROLLUP_SECONDS}) * {ROLLUP_SECONDS})"
    )


_SAMPLES = cast(Table, ActivitySample.__table__)


_ROLLUPS = cast(Table, ActivityRollup.__table__)


def rollup_bucket_start(moment: datetime) -> datetime:
    """The start of the 15-minute UTC bucket holding ``moment`` (tz-aware UTC)."""
    epoch_seconds = int(moment.timestamp())
    return datetime.fromtimestamp(epoch_seconds - epoch_seconds % ROLLUP_SECONDS, UTC)


def _rollup_select(*conditions: ColumnElement[bool]) -> Any:
    """Per (user, bucket) sums over the device-merged minutes of the samples matching ``conditions``."""
    minutes = merged_minutes(*conditions).c
    bucket = bucket_start_of(minutes.minute_start)

    def minutes_in(state: str) -> ColumnElement[Any]:
        return func.sum(case((minutes.state == state, 1), else_=0))

    return (
        select(
            minutes.user_id,
            bucket,
            func.count(),
            *(minutes_in(state) for state in STATES),
            func.sum(case((minutes.state == STATE_TRACKING, minutes.active_seconds), else_=0)),
            *(func.sum(minutes[name]) for name in COUNT_FIELDS),
        )
        .group_by(minutes.user_id, bucket)
    )


def _rollup_insert(*conditions: ColumnElement[bool]) -> Any:
    columns = ["user_id", "bucket_start", *ROLLUP_COLUMNS]
    return insert(_ROLLUPS).from_select(columns, _rollup_select(*conditions))


def _rollup_upsert(dialect: str, *conditions: ColumnElement[bool]) -> Any:
    """INSERT … SELECT … ON CONFLICT (user_id, bucket_start) DO UPDATE: buckets replaced, never doubled."""
    insert_function = postgresql_insert if dialect == "postgresql" else sqlite_insert
    # SQLite's grammar wants a WHERE in INSERT … SELECT … ON CONFLICT ("WHERE true" is enough).
    statement = insert_function(_ROLLUPS).from_select(
        ["user_id", "bucket_start", *ROLLUP_COLUMNS], _rollup_select(*conditions).where(literal(True))
    )
    replaced = {name: statement.excluded[name] for name in ROLLUP_COLUMNS}
    return statement.on_conflict_do_update(index_elements=["user_id", "bucket_start"], set_=replaced)


def _bucket_runs(buckets: set[datetime]) -> list[tuple[datetime, datetime]]:
    """Sorted buckets merged into ``[start, end)`` runs of adjacent buckets."""
    step = timedelta(seconds=ROLLUP_SECONDS)
    runs: list[tuple[datetime, datetime]] = []
    for bucket in sorted(buckets):
        if runs and runs[-1][1] == bucket:
            runs[-1] = (runs[-1][0], bucket + step)
        else:
            runs.append((bucket, bucket + step))
    return runs


def refresh_rollup(connection: Connection, user_id: int, buckets: set[datetime]) -> None:
    """Recompute the user's rollup rows of ``buckets`` from the stored minutes (replacing old rows).

    Recomputing instead of adding keeps a resent minute from counting twice, and a second device's
    minute merges with the first's. The caller holds the user's activity lock
    (:func:`server.db.activity_data.lock_user_activity`), so the SELECT sees every committed minute.
    """
    if not buckets:
        return
    parameters = [
        {"rollup_user_id": user_id, "run_start": start, "run_end": end}
        for start, end in _bucket_runs(buckets)
    ]
    connection.execute(_refresh_statement(connection.dialect.name), parameters)


@functools.cache
def _refresh_statement(dialect: str) -> Any:
    """refresh_rollup's upsert, built once per dialect: only its parameters differ between calls.

    Building the statement (two nested subqueries) cost about 10 ms of CPU per ``POST /activity``,
    more than running it (issue 14's load).
    """
    if dialect not in {"postgresql", "sqlite"}:
        raise RuntimeError(f"rollup upsert is not implemented for {dialect}")
    samples = _SAMPLES.c
    user = bindparam("rollup_user_id", type_=Integer())
    run_start = bindparam("run_start", type_=UtcDateTime())
    run_end = bindparam("run_end", type_=UtcDateTime())
    return _rollup_upsert(
        dialect, samples.user_id == user, samples.minute_start >= run_start, samples.minute_start < run_end
    )


def rebuild_rollup(connection: Connection | Session, user_id: int | None = None) -> int:
    """Recompute the whole rollup (or one user's) from the stored minutes; return the bucket count.

    For bulk loads that bypass :func:`upsert_activity` (``bench/bench_reports.py`` seeds this way).
    Migration 0003 backfills the table with its own copy of this GROUP BY, as revisions never
    import the live code.
    """
    if isinstance(connection, Session):
        connection = connection.connection()
    rollups = _ROLLUPS
    samples = _SAMPLES.c
    if user_id is None:
        connection.execute(delete(rollups))
        connection.execute(_rollup_insert())
    else:
        connection.execute(delete(rollups).where(rollups.c.user_id == user_id))
        connection.execute(_rollup_insert(samples.user_id == user_id))
    count_query = select(func.count()).select_from(rollups)
    if user_id is not None:
        count_query = count_query.where(rollups.c.user_id == user_id)
    return int(connection.scalar(count_query) or 0)
