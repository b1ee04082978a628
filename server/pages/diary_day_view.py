"""What the day partial (templates/diary_day.html) shows: hours folded where empty, captures grouped.

:func:`build_day_view` turns a :class:`~server.reports.diary.DiaryDay` into a :class:`DayView`; any
page renders it with ``{% include "diary_day.html" %}`` and ``view`` in its context. The admin
diary and the person's own diary differ only in :class:`Endpoints` (which routes serve the images,
and whether captures can be deleted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from server.reports.diary import DiaryDay, ScreenshotItem, Slot, deletion_text
from server.reports.tallies import GAP

FUTURE = "future"
GROUP_DATA = "data"
GROUP_GAP = "gap"
GROUP_FUTURE = "future"
# Legend entries: (state, label) in the order the page shows them.
LEGEND: tuple[tuple[str, str], ...] = (
    ("tracking", "tracking"),
    ("idle_kept", "idle, counted as work"),
    ("idle", "idle"),
    ("paused", "paused"),
    ("suspended", "suspended (battery)"),
    (GAP, "no data"),
    (FUTURE, "still to come"),
)


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The routes the partial links to; each takes ``screenshot_id``. ``delete`` None: no delete buttons."""

    thumbnail: str
    image: str
    delete: str | None = None


@dataclass(frozen=True, slots=True)
class SlotView:
    """One slot as shown: its state (``future`` for a slot not begun yet) and its captures by moment."""

    slot: Slot
    state: str
    moments: tuple[tuple[ScreenshotItem, ...], ...]
    deletions: tuple[str, ...] = ()  # "Deleted by ann" for each capture of the slot deleted or held back

    @property
    def label(self) -> str:
        """Local start time, e.g. ``09:10``."""
        return self.slot.label

    @property
    def empty(self) -> bool:
        """No data and no captures (a gap or a slot still to come)."""
        return self.state in (GAP, FUTURE) and not self.moments and not self.deletions


@dataclass(frozen=True, slots=True)
class HourView:
    """The slots of one local clock hour."""

    label: str
    slots: tuple[SlotView, ...]

    @property
    def kind(self) -> str:
        """``future`` when every slot is still to come, ``gap`` when every slot is empty, else ``data``."""
        if all(slot.state == FUTURE for slot in self.slots):
            return GROUP_FUTURE
        if all(slot.empty and slot.state == GAP for slot in self.slots):
            return GROUP_GAP
        return GROUP_DATA


@dataclass(frozen=True, slots=True)
class HourGroup:
    """Consecutive hours shown together: hours with data, or a run of empty hours folded into one line."""

    kind: str
    hours: tuple[HourView, ...]

    @property
    def folded(self) -> bool:
        """Empty hours fold away behind one line."""
        return self.kind != GROUP_DATA

    @property
    def caption(self) -> str:
        """``No data 00:00-08:50`` or ``Still to come 18:00-23:50`` (en dash; first and last slot), or ""."""
        if not self.folded:
            return ""
        first, last = self.hours[0].slots[0].label, self.hours[-1].slots[-1].label
        words = "No data" if self.kind == GROUP_GAP else "Still to come"
        return f"{words} {first}\N{EN DASH}{last}"


@dataclass(frozen=True, slots=True)
class DayView:
    """Everything diary_day.html needs: the day, its hour groups, the image routes."""

    diary: DiaryDay
    groups: tuple[HourGroup, ...]
    endpoints: Endpoints
    legend: tuple[tuple[str, str], ...] = LEGEND

    @property
    def folded_hours(self) -> int:
        """How many hours are folded away."""
        return sum(len(group.hours) for group in self.groups if group.folded)


def group_moments(shots: tuple[ScreenshotItem, ...]) -> tuple[tuple[ScreenshotItem, ...], ...]:
    """Captures of one moment together (one image per monitor, same ``taken_at``), by monitor number."""
    moments: dict[datetime, list[ScreenshotItem]] = {}
    for shot in shots:
        moments.setdefault(shot.taken_at, []).append(shot)
    return tuple(
        tuple(sorted(group, key=lambda shot: (shot.monitor, shot.id)))
        for _, group in sorted(moments.items())
    )


def slot_state(slot: Slot, now: datetime) -> str:
    """The tally's state, or ``future`` for a slot that has not begun (not "no data")."""
    state = slot.tally.state
    if state == GAP and slot.start > now:
        return FUTURE
    return state


def build_day_view(diary: DiaryDay, now: datetime, endpoints: Endpoints) -> DayView:
    """The diary day as the partial shows it at ``now``: empty hours folded, captures grouped by moment."""

    def deleted_in(slot: Slot) -> tuple[str, ...]:
        return tuple(
            deletion_text(entry) for entry in diary.deletions if slot.start <= entry.taken_at < slot.end
        )

    hours = [
        HourView(row.label, tuple(
            SlotView(slot, slot_state(slot, now), group_moments(slot.screenshots), deleted_in(slot))
            for slot in row.slots
        ))
        for row in diary.hour_rows
    ]
    groups: list[HourGroup] = []
    for hour in hours:
        kind = hour.kind
        if groups and groups[-1].kind == kind:
            groups[-1] = HourGroup(kind, (*groups[-1].hours, hour))
        else:
            groups.append(HourGroup(kind, (hour,)))
    return DayView(diary, tuple(groups), endpoints)
