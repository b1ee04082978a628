"""A day timeline per person for Team today: runs of 10-minute slots of one state, and what is to come."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

import time_manager
from server.db.device_minutes import merged_minutes
from server.db.models import ActivitySample
from server.reports.tallies import GAP, SLOT_SECONDS, Tally, epoch_seconds, tally_columns

logger = logging.getLogger(__name__)

FUTURE = "future"
STATE_WORDS = {
    "tracking": "tracking", "idle": "idle", "idle_kept": "idle, counted as work", "paused": "paused",
    "suspended": "suspended (battery)", GAP: "no data", FUTURE: "still to come",
}


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of consecutive slots of one state on a local day."""

    state: str
    start: datetime
    end: datetime
    zone: str
    percent: float  # of the whole day's length

    @property
    def minutes(self) -> int:
        """The run's length in minutes."""
        return int((self.end - self.start).total_seconds() // 60)

    @property
    def text(self) -> str:
        """``09:00-10:30 tracking (90 min)`` (en dash) in local time."""
        first = time_manager.to_local(self.start, self.zone)
        last = time_manager.to_local(self.end, self.zone)
        words = STATE_WORDS.get(self.state, self.state.replace("_", " "))
        return f"{first:%H:%M}\N{EN DASH}{last:%H:%M} {words} ({self.minutes} min)"


def timeline_summary(segments: Sequence[Segment]) -> str:
    """The timeline in words for screen readers and the tooltip: minutes per state, in legend order."""
    totals: dict[str, int] = {}
    for segment in segments:
        totals[segment.state] = totals.get(segment.state, 0) + segment.minutes
    parts = [f"{STATE_WORDS[state]} {totals[state]} min" for state in STATE_WORDS if totals.get(state)]
    parts += [f"{state} {minutes} min" for state, minutes in totals.items() if state not in STATE_WORDS]
    return ", ".join(parts)


def slot_states(
    session: Session, user_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, dict[int, str]]:
    """Per user, the state of each 10-minute slot of ``[start, end)`` that has data (devices merged)."""
    if not user_ids:
        return {}
    minutes = merged_minutes(
        ActivitySample.user_id.in_(list(user_ids)),
        ActivitySample.minute_start >= start,
        ActivitySample.minute_start < end,
    ).c
    slot = ((epoch_seconds(minutes.minute_start) - int(start.timestamp())) // SLOT_SECONDS).label("slot")
    query = select(minutes.user_id, slot, *tally_columns(minutes)).group_by(minutes.user_id, slot)
    result: dict[int, dict[int, str]] = {}
    for row in session.execute(query):
        result.setdefault(int(row.user_id), {})[int(row.slot)] = Tally.from_row(row).state
    return result


def day_segments(
    states: dict[int, str], start: datetime, end: datetime, now: datetime, zone: str
) -> tuple[Segment, ...]:
    """The day ``[start, end)`` as runs of one state; slots after ``now`` are ``future``, not "no data"."""
    total_seconds = (end - start).total_seconds()
    slot_count = -(-int(total_seconds) // SLOT_SECONDS)
    segments: list[Segment] = []
    for index in range(slot_count):
        slot_start = start + timedelta(seconds=index * SLOT_SECONDS)
        slot_end = min(end, slot_start + timedelta(seconds=SLOT_SECONDS))
        state = states.get(index, GAP)
        if state == GAP and slot_start > now:
            state = FUTURE
        percent = 100 * (slot_end - slot_start).total_seconds() / total_seconds
        if segments and segments[-1].state == state:
            last = segments[-1]
            segments[-1] = Segment(state, last.start, slot_end, zone, last.percent + percent)
        else:
            segments.append(Segment(state, slot_start, slot_end, zone, percent))
    return tuple(segments)
