"""One user's local day for the diary page: every 10-minute slot (gaps included) with its screenshots."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

import time_manager
from server.db.agents import DeviceStatus, devices_of
from server.db.device_minutes import merged_minutes
from server.db.models import ActivitySample, Screenshot, ScreenshotDeletion, User
from server.db.screenshot_data import KIND_WITHHELD
from server.reports.tallies import SLOT_MINUTES, SLOT_SECONDS, Tally, epoch_seconds, tally_columns
from server.reports.zones import ZoneChoice

logger = logging.getLogger(__name__)

SLOTS_PER_HOUR = 60 // SLOT_MINUTES


@dataclass(frozen=True, slots=True)
class ScreenshotItem:
    """One registered screenshot of a diary day."""

    id: int
    key: str
    taken_at: datetime
    local_taken_at: datetime
    blurred: bool
    width: int
    height: int
    monitor: int = 0


@dataclass(frozen=True, slots=True)
class Slot:
    """One 10-minute slot of a local day: its tally and its screenshots."""

    index: int
    start: datetime
    end: datetime
    local_start: datetime
    tally: Tally
    screenshots: tuple[ScreenshotItem, ...] = ()

    @property
    def label(self) -> str:
        """Local start time, e.g. ``01:10``."""
        return f"{self.local_start:%H:%M}"


@dataclass(frozen=True, slots=True)
class HourRow:
    """The slots of one local clock hour (a repeated hour on a fall-back day is its own row)."""

    label: str
    slots: tuple[Slot, ...]



def deletion_text(entry: ScreenshotDeletion) -> str:
    """``Deleted by ann`` / ``Held back on the device by ann``, as a diary slot shows it."""
    if entry.kind == KIND_WITHHELD:
        return f"Held back on the device by {entry.actor}"
    return f"Deleted by {entry.actor}"

@dataclass(frozen=True, slots=True)
class DiaryDay:
    """One user's local day: slots in hour rows, the day's totals and screenshots."""

    username: str
    day: date
    zone: ZoneChoice
    start: datetime
    end: datetime
    slots: tuple[Slot, ...]
    totals: Tally
    deletions: tuple[ScreenshotDeletion, ...] = ()
    devices: tuple[DeviceStatus, ...] = ()

    @property
    def hours_in_day(self) -> float:
        """23, 24 or 25 (or 23.5/24.5 where DST moves by 30 minutes)."""
        return (self.end - self.start).total_seconds() / 3600

    @property
    def hour_rows(self) -> list[HourRow]:
        """Slots grouped six to a row by local clock hour, labelled with the zone abbreviation."""
        rows: list[HourRow] = []
        for first in range(0, len(self.slots), SLOTS_PER_HOUR):
            chunk = self.slots[first:first + SLOTS_PER_HOUR]
            local = chunk[0].local_start
            rows.append(HourRow(f"{local:%H:%M} {local.tzname()}", tuple(chunk)))
        return rows

    @property
    def screenshot_count(self) -> int:
        """How many screenshots the day has."""
        return sum(len(slot.screenshots) for slot in self.slots)


def diary_day(session: Session, user: User, day: date, zone: ZoneChoice) -> DiaryDay:
    """One user's local ``day`` in ``zone``: every 10-minute slot (gaps included) with its screenshots."""
    start, end = time_manager.local_day_bounds(day, zone.name)
    start_epoch = int(start.timestamp())
    slot_count = math.ceil((end - start).total_seconds() / SLOT_SECONDS)
    minutes = merged_minutes(
        ActivitySample.user_id == user.id,
        ActivitySample.minute_start >= start,
        ActivitySample.minute_start < end,
    ).c
    slot_index = ((epoch_seconds(minutes.minute_start) - start_epoch) // SLOT_SECONDS).label("slot")
    query = select(slot_index, *tally_columns(minutes)).group_by(slot_index)
    tallies = {int(row.slot): Tally.from_row(row) for row in session.execute(query)}
    shots: dict[int, list[ScreenshotItem]] = {}
    # One image per monitor shares a taken_at; the column exists once monitors are stored.
    monitor_column = getattr(Screenshot, "monitor", None)
    screenshot_rows = session.execute(
        select(
            Screenshot.id, Screenshot.key, Screenshot.taken_at, Screenshot.blurred, Screenshot.width,
            Screenshot.height, *([monitor_column.label("monitor")] if monitor_column is not None else []),
        )
        .where(Screenshot.user_id == user.id, Screenshot.taken_at >= start, Screenshot.taken_at < end)
        .order_by(Screenshot.taken_at)
    )
    for row in screenshot_rows:
        index = int((row.taken_at - start).total_seconds() // SLOT_SECONDS)
        item = ScreenshotItem(
            row.id, row.key, row.taken_at, time_manager.to_local(row.taken_at, zone.name), bool(row.blurred),
            row.width, row.height, int(getattr(row, "monitor", 0) or 0),
        )
        shots.setdefault(index, []).append(item)
    slots = []
    for index in range(slot_count):
        slot_start = start + timedelta(seconds=index * SLOT_SECONDS)
        slots.append(
            Slot(
                index=index,
                start=slot_start,
                end=min(end, slot_start + timedelta(seconds=SLOT_SECONDS)),
                local_start=time_manager.to_local(slot_start, zone.name),
                tally=tallies.get(index, Tally()),
                screenshots=tuple(shots.get(index, ())),
            )
        )
    totals = Tally()
    for tally in tallies.values():
        totals = totals + tally
    deletions = tuple(
        session.scalars(
            select(ScreenshotDeletion)
            .where(
                ScreenshotDeletion.username == user.username,
                ScreenshotDeletion.taken_at >= start,
                ScreenshotDeletion.taken_at < end,
            )
            .order_by(ScreenshotDeletion.at)
        )
    )
    devices = tuple(devices_of(session, [user.id]).get(user.id, []))
    return DiaryDay(user.username, day, zone, start, end, tuple(slots), totals, deletions, devices)
