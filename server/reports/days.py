"""The range report: each user's tally per local day over up to 93 days, read from the 15-minute rollup."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, case, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

import time_manager
from server.db.device_minutes import merged_minutes
from server.db.models import ActivityRollup, ActivitySample, User, UtcDateTime
from server.db.rollups import ROLLUP_SECONDS
from server.db.users import listed_users
from server.reports.tallies import Tally, rollup_tally_columns, tally_columns
from server.reports.zones import ZoneChoice, user_zones

logger = logging.getLogger(__name__)

MAX_REPORT_DAYS = 93


@dataclass(frozen=True, slots=True)
class UserDays:
    """One user's row of a report: a tally per local day and the total."""

    user_id: int
    username: str
    zone: ZoneChoice
    days: dict[date, Tally] = field(default_factory=dict)
    hours_in_days: dict[date, float] = field(default_factory=dict)

    @property
    def total(self) -> Tally:
        """The sum over every day of the range."""
        result = Tally()
        for tally in self.days.values():
            result = result + tally
        return result


@dataclass(frozen=True, slots=True)
class Report:
    """Tracked time and activity per user per local day over ``[first_day, last_day]``."""

    first_day: date
    last_day: date
    chosen_zone: str | None
    users: tuple[UserDays, ...]

    @property
    def days(self) -> list[date]:
        """Every day of the range, in order."""
        return [self.first_day + timedelta(days=n) for n in range((self.last_day - self.first_day).days + 1)]

    @property
    def zone_caption(self) -> str:
        """The zone line printed on the page and in the CSV header."""
        if self.chosen_zone is not None:
            return self.chosen_zone
        names = sorted({user.zone.name for user in self.users})
        return "each user's own zone (" + (", ".join(names) or "none") + ")"

    def day_total(self, day: date) -> Tally:
        """All users' sum for one day."""
        result = Tally()
        for user in self.users:
            result = result + user.days.get(day, Tally())
        return result

    @property
    def total(self) -> Tally:
        """All users, all days."""
        result = Tally()
        for user in self.users:
            result = result + user.total
        return result


def zone_day_tallies(
    session: Session, user_ids: Sequence[int], boundaries: Sequence[datetime]
) -> dict[tuple[int, int], Tally]:
    """Tallies keyed by ``(user_id, day_number)`` for users sharing one zone's consecutive local days.

    ``boundaries`` are the UTC starts of the days and the end of the last one (day n is
    ``[boundaries[n], boundaries[n + 1])``). One range query reads the 15-minute rollup and a
    CASE over the boundaries numbers the day, so the parameters are the day count plus the
    users, not one row per user-day. Every real zone's days are whole buckets (offsets are
    multiples of 15 minutes, DST days included); a day that is not (an old local mean time)
    makes this range read the minutes instead.
    """
    if not user_ids or len(boundaries) < 2:
        return {}
    aligned = all(int(moment.timestamp()) % ROLLUP_SECONDS == 0 for moment in boundaries)
    user_column: Any
    moment_column: Any
    if aligned:
        user_column, moment_column = ActivityRollup.user_id, ActivityRollup.bucket_start
        columns = rollup_tally_columns()
    else:
        minutes = merged_minutes(
            ActivitySample.user_id.in_(list(user_ids)),
            ActivitySample.minute_start >= boundaries[0],
            ActivitySample.minute_start < boundaries[-1],
        ).c
        user_column, moment_column = minutes.user_id, minutes.minute_start
        columns = tally_columns(minutes)
    last_day = len(boundaries) - 2
    day_number: ColumnElement[int]
    if last_day == 0:
        day_number = literal(0, Integer())
    else:
        day_number = case(
            *((moment_column < literal(end, UtcDateTime()), n) for n, end in enumerate(boundaries[1:-1])),
            else_=last_day,
        )
    day_number = day_number.label("day_number")
    query = (
        select(user_column.label("user_id"), day_number, *columns)
        .where(
            user_column.in_(list(user_ids)),
            moment_column >= boundaries[0],
            moment_column < boundaries[-1],
        )
        .group_by(user_column, day_number)
    )
    return {(int(row.user_id), int(row.day_number)): Tally.from_row(row) for row in session.execute(query)}


def _day_boundaries(first_day: date, day_count: int, zone: str) -> list[datetime]:
    """UTC starts of ``day_count`` local days from ``first_day`` in the zone, then the last day's end."""
    starts = [time_manager.local_day_bounds(first_day + timedelta(days=n), zone)[0] for n in range(day_count)]
    return [*starts, time_manager.local_day_bounds(first_day + timedelta(days=day_count - 1), zone)[1]]


def team_report(
    session: Session, first_day: date, last_day: date, chosen_zone: str | None = None,
    users: Sequence[User] | None = None,
) -> Report:
    """Per-user-per-day tallies for local days ``first_day..last_day`` (at most MAX_REPORT_DAYS)."""
    if last_day < first_day:
        raise ValueError("the range ends before it starts")
    if (last_day - first_day).days + 1 > MAX_REPORT_DAYS:
        raise ValueError(f"the range may span at most {MAX_REPORT_DAYS} days")
    members = list(users) if users is not None else listed_users(session)
    zones = user_zones(session, members, chosen_zone)
    day_count = (last_day - first_day).days + 1
    zone_names = {choice.name for choice in zones.values()}
    boundaries_by_zone = {zone: _day_boundaries(first_day, day_count, zone) for zone in zone_names}
    tallies: dict[tuple[int, int], Tally] = {}
    for zone, boundaries in boundaries_by_zone.items():
        user_ids = [user.id for user in members if zones[user.id].name == zone]
        tallies.update(zone_day_tallies(session, user_ids, boundaries))
    rows = []
    for user in members:
        boundaries = boundaries_by_zone[zones[user.id].name]
        row = UserDays(user.id, user.username, zones[user.id])
        for n in range(day_count):
            day = first_day + timedelta(days=n)
            row.hours_in_days[day] = (boundaries[n + 1] - boundaries[n]).total_seconds() / 3600
            if (user.id, n) in tallies:
                row.days[day] = tallies[(user.id, n)]
        rows.append(row)
    chosen_name = time_manager.zone_name(chosen_zone) if chosen_zone is not None else None
    return Report(first_day, last_day, chosen_name, tuple(rows))


def week_of(day: date) -> tuple[date, date]:
    """Monday and Sunday of the ISO week containing ``day``."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)
