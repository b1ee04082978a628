"""The reports as CSV: the range report's user-days and a diary's slots, each after a ``#`` zone line.

``idle_kept_minutes`` (idle the person counted as work, part of ``tracked_seconds``) is the last
column, so readers of the older columns by position keep working. A count that was not counted
(None: a device without input events) is an empty cell, never 0 (the csv writer writes None as "").
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from typing import IO

from server.reports.days import Report
from server.reports.diary import DiaryDay

logger = logging.getLogger(__name__)

REPORT_CSV_COLUMNS = (
    "username", "zone", "date", "hours_in_day", "tracked_seconds", "tracked_hours", "active_seconds",
    "activity_percent", "idle_minutes", "paused_minutes", "suspended_minutes", "keys", "clicks",
    "idle_kept_minutes",
)
SLOT_CSV_COLUMNS = (
    "username", "zone", "date", "slot_start_local", "slot_start_utc", "state", "sample_minutes",
    "tracking_minutes", "idle_minutes", "paused_minutes", "suspended_minutes", "active_seconds",
    "activity_percent", "keys", "clicks", "scrolls", "mouse_px", "screenshots", "idle_kept_minutes",
)


def _percent_text(value: int | None) -> str:
    return "" if value is None else str(value)


def _hours_text(hours: float) -> str:
    return str(int(hours)) if hours == int(hours) else f"{hours:g}"


def write_report_csv(report: Report, stream: IO[str]) -> None:
    """The report table as CSV: a ``#`` line naming zone and range, the header, one row per user-day.

    Days without any data are left out (a gap is not a zero); the activity % is empty when nothing
    was tracked.
    """
    stream.write(f"# Vinova report {report.first_day}..{report.last_day}; zone: {report.zone_caption}\n")
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(REPORT_CSV_COLUMNS)
    for user in report.users:
        for day in report.days:
            tally = user.days.get(day)
            if tally is None:
                continue
            writer.writerow([
                user.username, user.zone.name, day.isoformat(), _hours_text(user.hours_in_days[day]),
                tally.tracked_seconds, f"{tally.tracked_seconds / 3600:.2f}", tally.active_seconds,
                _percent_text(tally.activity_percent), tally.idle_minutes, tally.paused_minutes,
                tally.suspended_minutes, tally.keys, tally.clicks, tally.idle_kept_minutes,
            ])


def write_slots_csv(days: Sequence[DiaryDay], stream: IO[str]) -> None:
    """Per-slot rows of one user's days as CSV (gaps included, state ``gap``), after a ``#`` zone line."""
    zone = days[0].zone.name if days else ""
    stream.write(f"# Vinova slots; zone: {zone}\n")
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(SLOT_CSV_COLUMNS)
    for diary in days:
        for slot in diary.slots:
            tally = slot.tally
            writer.writerow([
                diary.username, diary.zone.name, diary.day.isoformat(), slot.local_start.isoformat(),
                slot.start.isoformat(), tally.state, tally.sample_minutes, tally.tracking_minutes,
                tally.idle_minutes, tally.paused_minutes, tally.suspended_minutes, tally.active_seconds,
                _percent_text(tally.activity_percent), tally.keys, tally.clicks, tally.scrolls,
                tally.mouse_px, len(slot.screenshots), tally.idle_kept_minutes,
            ])
