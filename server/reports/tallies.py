"""The sums every report shows: a :class:`Tally` of minutes per state, active seconds and input counts.

A count is None when no minute it covers was counted (a device without input events, see
``contract.activity.COUNT_FIELDS``): SQL's SUM over NULLs is NULL and adds the numbers there are,
as :func:`contract.activity.add_counts` does. Pages show it as :data:`NOT_COUNTED`, CSV as an empty
cell, JSON as null -- never 0.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, case, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from contract.activity import (
    COUNT_FIELDS,
    SECONDS_PER_MINUTE,
    STATE_IDLE,
    STATE_IDLE_KEPT,
    STATE_PAUSED,
    STATE_SUSPENDED,
    STATE_TRACKING,
    STATES,
    activity_percent,
    add_counts,
)
from server.db.models import ActivityRollup

logger = logging.getLogger(__name__)

SLOT_MINUTES = 10
SLOT_SECONDS = SLOT_MINUTES * SECONDS_PER_MINUTE
GAP = "gap"
# How a state reads in a tooltip where its name is not plain words.
STATE_WORDS = {STATE_IDLE_KEPT: "idle counted as work"}
# How a count that was not counted reads on a page.
NOT_COUNTED = "—"
_COUNTS = frozenset(COUNT_FIELDS)


def count_text(value: int | None) -> str:
    """A count as a page shows it: the number, or :data:`NOT_COUNTED` when it was not counted."""
    return NOT_COUNTED if value is None else str(value)


class epoch_seconds(FunctionElement[int]):
    """Seconds since 1970-01-01 UTC of a stored UTC timestamp column, as an integer."""

    type = Integer()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps naive UTC text (models.UtcDateTime); strftime('%s') reads it as UTC.
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS BIGINT)"


def tally_columns(minutes: ReadOnlyColumnCollection[str, Any]) -> list[ColumnElement[Any]]:
    """The aggregate columns of a :class:`Tally` over :func:`merged_minutes` rows, in its field order.

    ``minutes`` is the merged subquery's ``.c``: devices are merged per minute before anything is summed.
    """
    tracking = minutes.state == STATE_TRACKING
    return [
        func.count().label("sample_minutes"),
        *(func.sum(case((minutes.state == state, 1), else_=0)).label(f"{state}_minutes") for state in STATES),
        func.sum(case((tracking, minutes.active_seconds), else_=0)).label("active_seconds"),
        *(func.sum(minutes[name]).label(name) for name in COUNT_FIELDS),
    ]


@dataclass(frozen=True, slots=True)
class Tally:
    """Sums over some minutes of one user: minutes per state, active seconds and input counts."""

    sample_minutes: int = 0
    tracking_minutes: int = 0
    idle_minutes: int = 0
    paused_minutes: int = 0
    suspended_minutes: int = 0
    idle_kept_minutes: int = 0  # idle minutes the person counted as work: tracked, with 0 activity
    active_seconds: int = 0
    # None: no minute of these was counted (see the module docstring).
    keys: int | None = None
    clicks: int | None = None
    scrolls: int | None = None
    mouse_px: int | None = None

    @classmethod
    def from_row(cls, row: Any) -> Tally:
        """Build from a result row carrying the :func:`tally_columns` labels.

        A NULL minute sum is 0 (no minutes); a NULL count stays None (nothing counted).
        """
        values: dict[str, Any] = {}
        for name in cls.__slots__:
            value = getattr(row, name)
            values[name] = (None if name in _COUNTS else 0) if value is None else int(value)
        return cls(**values)

    def __add__(self, other: Tally) -> Tally:
        sums: dict[str, Any] = {
            name: add_counts((getattr(self, name), getattr(other, name))) if name in _COUNTS
            else getattr(self, name) + getattr(other, name)
            for name in Tally.__slots__
        }
        return Tally(**sums)

    @property
    def tracked_seconds(self) -> int:
        """Seconds of tracked time (60 per ``tracking`` or ``idle_kept`` minute)."""
        return (self.tracking_minutes + self.idle_kept_minutes) * SECONDS_PER_MINUTE

    @property
    def activity_percent(self) -> int | None:
        """Active seconds as a whole percentage of tracked seconds; None when nothing was tracked."""
        return activity_percent(self.active_seconds, self.tracked_seconds)

    @property
    def state(self) -> str:
        """``gap`` (no data), ``tracking``, or the most frequent of idle_kept/idle/paused/suspended."""
        if self.sample_minutes == 0:
            return GAP
        if self.tracking_minutes:
            return STATE_TRACKING
        counts = {
            STATE_IDLE_KEPT: self.idle_kept_minutes,
            STATE_IDLE: self.idle_minutes,
            STATE_PAUSED: self.paused_minutes,
            STATE_SUSPENDED: self.suspended_minutes,
        }
        return max(counts, key=lambda name: counts[name])

    @property
    def hover_text(self) -> str:
        """Tooltip: minutes per state, then key and click counts ("—" if not counted), or "no data"."""
        if self.sample_minutes == 0:
            return "no data"
        minutes = [
            f"{getattr(self, f'{state}_minutes')} min {STATE_WORDS.get(state, state)}"
            for state in STATES
            if getattr(self, f"{state}_minutes")
        ]
        return f"{', '.join(minutes)}; {count_text(self.keys)} keys, {count_text(self.clicks)} clicks"


def rollup_tally_columns() -> list[ColumnElement[Any]]:
    """The :class:`Tally` columns summed over ``activity_rollups`` rows."""
    return [func.sum(getattr(ActivityRollup, name)).label(name) for name in Tally.__slots__]


def as_json(tally: Tally) -> Mapping[str, Any]:
    """A tally's JSON-ready form (with tracked_seconds, activity_percent and state)."""
    return {
        **{name: getattr(tally, name) for name in Tally.__slots__},
        "tracked_seconds": tally.tracked_seconds,
        "activity_percent": tally.activity_percent,
        "state": tally.state,
    }
