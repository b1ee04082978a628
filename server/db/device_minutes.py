"""The user's minutes merged across devices, as a SQL subquery every report and the rollup read.

:func:`contract.activity.merge_device_minutes` is the rule: per (user, minute) the largest active
seconds, the counts summed (SQL's SUM skips NULL, "not counted", and is NULL only when no device
counted: ``contract.activity.add_counts``), the state of the most active device (ties follow
``contract.activity.STATE_PRECEDENCE``: tracking > idle_kept > idle > paused > suspended). SQL has no
"state of the row with the largest value" aggregate that works alike on SQLite and PostgreSQL, so
each row is ranked as ``active_seconds * len(states) + precedence`` and the merged minute is
``max(rank)``: its quotient is the active seconds, its remainder names the state.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from sqlalchemy import Table, case, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from contract.activity import COUNT_FIELDS, STATE_PRECEDENCE
from server.db.models import ActivitySample

logger = logging.getLogger(__name__)

_STATE_COUNT = len(STATE_PRECEDENCE)

_SAMPLES = cast(Table, ActivitySample.__table__)


def _precedence(state: ColumnElement[Any]) -> ColumnElement[int]:
    """The first state of STATE_PRECEDENCE ranks highest (tracking 4 … suspended 0): the higher wins a tie."""
    return case(
        *((state == name, _STATE_COUNT - 1 - index) for index, name in enumerate(STATE_PRECEDENCE)),
        else_=0,
    )


def merged_minutes(*conditions: ColumnElement[bool]) -> Subquery:
    """One row per (user_id, minute_start) over the samples matching ``conditions``, devices merged.

    Columns: ``user_id``, ``minute_start``, ``state``, ``active_seconds`` and the counts. Put the
    user and minute-range conditions here so the inner GROUP BY reads only those index entries.
    """
    samples = _SAMPLES.c
    rank = func.max(samples.active_seconds * _STATE_COUNT + _precedence(samples.state)).label("merge_rank")
    inner = (
        select(
            samples.user_id, samples.minute_start, rank,
            *(func.sum(samples[name]).label(name) for name in COUNT_FIELDS),
        )
        .where(*conditions)
        .group_by(samples.user_id, samples.minute_start)
        .subquery("device_minutes")
    )
    remainder = inner.c.merge_rank % _STATE_COUNT
    state = case(
        *((remainder == _STATE_COUNT - 1 - index, name) for index, name in enumerate(STATE_PRECEDENCE)),
        else_=STATE_PRECEDENCE[-1],
    )
    return select(
        inner.c.user_id,
        inner.c.minute_start,
        state.label("state"),
        (inner.c.merge_rank // _STATE_COUNT).label("active_seconds"),
        *(inner.c[name] for name in COUNT_FIELDS),
    ).subquery("merged_minutes")
