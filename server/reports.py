"""The work diary's numbers: one user's day in 10-minute slots, per-user-per-day totals, team today, CSV.

Every aggregate is a GROUP BY in SQL; Python only sees one row per slot or per user-day, never
the minutes. The diary reads ``activity_samples`` (through the UNIQUE (user_id, minute_start)
index); ranges of whole days (the report, Team today) read ``activity_rollups``, the 15-minute
sums ``activity_data.upsert_activity`` keeps, a fifteenth of the rows (issue 6). Days are local days of
a zone, so a DST day has 23 or 25 hours: the days' UTC bounds come from
:func:`time_manager.local_day_bounds` and go into one range query per zone as a CASE that
numbers the day, which works alike on SQLite and PostgreSQL.

Definitions (shown on the pages too):
    tracked time      minutes labelled ``tracking`` (idle, paused and suspended minutes are not tracked)
    activity %        active seconds / tracked seconds (a full slot: active seconds / 600)
    slot state        ``gap`` when no minute of the slot was reported (missing data is not zero
                      activity); otherwise ``tracking`` if any minute was, else the most frequent
                      of ``idle``, ``paused``, ``suspended``
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import IO, Any

from sqlalchemy import Integer, case, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

import time_manager
from server.db.config_data import effective_config
from server.db.models import (
    ActivityRollup,
    ActivitySample,
    AgentReport,
    Screenshot,
    ScreenshotDeletion,
    User,
    UtcDateTime,
)
from server.db.rollups import ROLLUP_SECONDS

logger = logging.getLogger(__name__)

SLOT_MINUTES = 10
SLOT_SECONDS = SLOT_MINUTES * 60
SLOTS_PER_HOUR = 60 // SLOT_MINUTES
OFFLINE_AFTER = timedelta(minutes=3)
MAX_REPORT_DAYS = 93
STATES = ("tracking", "idle", "paused", "suspended")
GAP = "gap"


# --------------------------------------------------------------------------- SQL pieces
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


def _state_minutes(state: str) -> ColumnElement[Any]:
    return func.sum(case((ActivitySample.state == state, 1), else_=0))


def _tally_columns() -> list[ColumnElement[Any]]:
    """The aggregate columns of a :class:`Tally`, in its field order."""
    tracking = ActivitySample.state == "tracking"
    return [
        func.count(ActivitySample.id).label("sample_minutes"),
        *(_state_minutes(state).label(f"{state}_minutes") for state in STATES),
        func.sum(case((tracking, ActivitySample.active_seconds), else_=0)).label("active_seconds"),
        func.sum(ActivitySample.keys).label("keys"),
        func.sum(ActivitySample.clicks).label("clicks"),
        func.sum(ActivitySample.scrolls).label("scrolls"),
        func.sum(ActivitySample.mouse_px).label("mouse_px"),
    ]


# --------------------------------------------------------------------------- values
@dataclass(frozen=True, slots=True)
class Tally:
    """Sums over some minutes of one user: minutes per state, active seconds and input counts."""

    sample_minutes: int = 0
    tracking_minutes: int = 0
    idle_minutes: int = 0
    paused_minutes: int = 0
    suspended_minutes: int = 0
    active_seconds: int = 0
    keys: int = 0
    clicks: int = 0
    scrolls: int = 0
    mouse_px: int = 0

    @classmethod
    def from_row(cls, row: Any) -> Tally:
        """Build from a result row carrying the :func:`_tally_columns` labels (NULL sums are 0)."""
        return cls(**{name: int(getattr(row, name) or 0) for name in cls.__slots__})

    def __add__(self, other: Tally) -> Tally:
        return Tally(**{name: getattr(self, name) + getattr(other, name) for name in Tally.__slots__})

    @property
    def tracked_seconds(self) -> int:
        """Seconds of tracked time (60 per ``tracking`` minute)."""
        return self.tracking_minutes * 60

    @property
    def activity_percent(self) -> int | None:
        """Active seconds as a whole percentage of tracked seconds; None when nothing was tracked."""
        if self.tracking_minutes == 0:
            return None
        return min(100, round(100 * self.active_seconds / self.tracked_seconds))

    @property
    def state(self) -> str:
        """``gap`` (no data), ``tracking``, or the most frequent of idle/paused/suspended."""
        if self.sample_minutes == 0:
            return GAP
        if self.tracking_minutes:
            return "tracking"
        counts = {
            "idle": self.idle_minutes, "paused": self.paused_minutes, "suspended": self.suspended_minutes
        }
        return max(counts, key=lambda name: counts[name])

    @property
    def hover_text(self) -> str:
        """Tooltip: minutes per state, then key and click counts (or "no data")."""
        if self.sample_minutes == 0:
            return "no data"
        minutes = [
            f"{getattr(self, f'{state}_minutes')} min {state}"
            for state in STATES
            if getattr(self, f"{state}_minutes")
        ]
        return f"{', '.join(minutes)}; {self.keys} keys, {self.clicks} clicks"


@dataclass(frozen=True, slots=True)
class ZoneChoice:
    """The zone a user's days are shown in, and where it came from."""

    name: str
    source: str  # "chosen" (by the admin), "activity" (newest sample), "config", "server"

    @property
    def note(self) -> str:
        """Plain words for the page: why this zone."""
        return {
            "chosen": "chosen for this page",
            "activity": "the user's zone, from their newest activity",
            "config": "the user's configured zone (no activity yet)",
            "server": "the server's zone: the user's config says \"local\" and there is no activity yet",
        }[self.source]


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


@dataclass(frozen=True, slots=True)
class TeamMember:
    """One row of Team today."""

    username: str
    zone: ZoneChoice
    today: date
    tally: Tally
    status: str  # tracking | idle | paused | suspended | offline | never
    last_seen: datetime | None
    offline_since: datetime | None
    uploads_waiting: int | None
    kept_aside: int | None


# --------------------------------------------------------------------------- zones
def user_zones(session: Session, users: Sequence[User], chosen: str | None = None) -> dict[int, ZoneChoice]:
    """Each user's display zone: ``chosen`` for all, else their newest sample's zone, else their config's."""
    if chosen is not None:
        name = time_manager.zone_name(chosen)
        return {user.id: ZoneChoice(name, "chosen") for user in users}
    newest_zone = (
        select(ActivitySample.timezone)
        .where(ActivitySample.user_id == User.id)
        .order_by(ActivitySample.minute_start.desc())
        .limit(1)
        .correlate(User)
        .scalar_subquery()
    )
    ids = [user.id for user in users]
    query = select(User.id, newest_zone).where(User.id.in_(ids))
    found: dict[int, str | None] = {int(user_id): zone for user_id, zone in session.execute(query)}
    zones: dict[int, ZoneChoice] = {}
    for user in users:
        zone = found.get(user.id)
        if zone is not None:
            zones[user.id] = ZoneChoice(zone, "activity")
            continue
        configured = str(effective_config(session, user.id).get("timezone") or time_manager.LOCAL_TIMEZONE)
        if configured == time_manager.LOCAL_TIMEZONE:
            zones[user.id] = ZoneChoice(time_manager.system_zone_name(), "server")
        else:
            zones[user.id] = ZoneChoice(configured, "config")
    return zones


# --------------------------------------------------------------------------- diary
def diary_day(session: Session, user: User, day: date, zone: ZoneChoice) -> DiaryDay:
    """One user's local ``day`` in ``zone``: every 10-minute slot (gaps included) with its screenshots."""
    start, end = time_manager.local_day_bounds(day, zone.name)
    start_epoch = int(start.timestamp())
    slot_count = math.ceil((end - start).total_seconds() / SLOT_SECONDS)
    slot_index = ((epoch_seconds(ActivitySample.minute_start) - start_epoch) // SLOT_SECONDS).label("slot")
    query = (
        select(slot_index, *_tally_columns())
        .where(
            ActivitySample.user_id == user.id,
            ActivitySample.minute_start >= start,
            ActivitySample.minute_start < end,
        )
        .group_by(slot_index)
    )
    tallies = {int(row.slot): Tally.from_row(row) for row in session.execute(query)}
    shots: dict[int, list[ScreenshotItem]] = {}
    screenshot_rows = session.execute(
        select(
            Screenshot.id, Screenshot.key, Screenshot.taken_at, Screenshot.blurred, Screenshot.width,
            Screenshot.height,
        )
        .where(Screenshot.user_id == user.id, Screenshot.taken_at >= start, Screenshot.taken_at < end)
        .order_by(Screenshot.taken_at)
    )
    for row in screenshot_rows:
        index = int((row.taken_at - start).total_seconds() // SLOT_SECONDS)
        item = ScreenshotItem(
            row.id, row.key, row.taken_at, time_manager.to_local(row.taken_at, zone.name), bool(row.blurred),
            row.width, row.height,
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
    return DiaryDay(user.username, day, zone, start, end, tuple(slots), totals, deletions)


# --------------------------------------------------------------------------- per-user-per-day totals
def _rollup_tally_columns() -> list[ColumnElement[Any]]:
    """The :class:`Tally` columns summed over ``activity_rollups`` rows."""
    return [func.sum(getattr(ActivityRollup, name)).label(name) for name in Tally.__slots__]


def _zone_day_tallies(
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
    if aligned:
        user_column, moment_column = ActivityRollup.user_id, ActivityRollup.bucket_start
        tally_columns = _rollup_tally_columns()
    else:
        user_column, moment_column = ActivitySample.user_id, ActivitySample.minute_start
        tally_columns = _tally_columns()
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
        select(user_column.label("user_id"), day_number, *tally_columns)
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


def listed_users(session: Session, name_filter: str = "") -> list[User]:
    """Every account, by username; ``name_filter`` keeps names containing it (any case)."""
    query = select(User).order_by(User.username)
    if name_filter:
        query = query.where(func.lower(User.username).contains(name_filter.lower(), autoescape=True))
    return list(session.scalars(query))


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
        tallies.update(_zone_day_tallies(session, user_ids, boundaries))
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


# --------------------------------------------------------------------------- team today
def team_today(
    session: Session, now: datetime, chosen_zone: str | None = None, name_filter: str = ""
) -> list[TeamMember]:
    """One row per user: today's tally (in their display zone), agent status, last seen, backlog."""
    members = listed_users(session, name_filter)
    if not members:
        return []
    zones = user_zones(session, members, chosen_zone)
    todays = {user.id: time_manager.local_date(now, zones[user.id].name) for user in members}
    tallies: dict[tuple[int, int], Tally] = {}
    for zone, today in {(zones[user.id].name, todays[user.id]) for user in members}:
        user_ids = [user.id for user in members if (zones[user.id].name, todays[user.id]) == (zone, today)]
        tallies.update(_zone_day_tallies(session, user_ids, time_manager.local_day_bounds(today, zone)))
    newest_id = (
        select(ActivitySample.id)
        .where(ActivitySample.user_id == User.id)
        .order_by(ActivitySample.minute_start.desc())
        .limit(1)
        .correlate(User)
        .scalar_subquery()
    )
    newest = {
        int(row.user_id): row
        for row in session.execute(
            select(
                ActivitySample.user_id, ActivitySample.minute_start, ActivitySample.state,
                ActivitySample.received_at,
            )
            .select_from(User)
            .join(ActivitySample, ActivitySample.id == newest_id)
            .where(User.id.in_([user.id for user in members]))
        )
    }
    member_ids = [user.id for user in members]
    reports_query = select(AgentReport).where(AgentReport.user_id.in_(member_ids))
    reports = {row.user_id: row for row in session.scalars(reports_query)}
    result = []
    for user in members:
        latest = newest.get(user.id)
        report = reports.get(user.id)
        seen = [moment for moment in (
            latest.received_at if latest is not None else None,
            report.reported_at if report is not None else None,
        ) if moment is not None]
        last_seen = max(seen) if seen else None
        offline_since = None
        if latest is None:
            status = "never"
        elif last_seen is not None and now - last_seen > OFFLINE_AFTER:
            status = "offline"
            offline_since = latest.minute_start + timedelta(minutes=1)
        else:
            status = str(latest.state)
        result.append(
            TeamMember(
                username=user.username,
                zone=zones[user.id],
                today=todays[user.id],
                tally=tallies.get((user.id, 0), Tally()),
                status=status,
                last_seen=last_seen,
                offline_since=offline_since,
                uploads_waiting=report.uploads_waiting if report is not None else None,
                kept_aside=report.kept_aside if report is not None else None,
            )
        )
    return result


TEAM_SORT_KEYS = ("name", "tracked", "activity", "last_seen")


def sort_team(rows: Sequence[TeamMember], key: str) -> list[TeamMember]:
    """Rows sorted by ``name`` (A→Z) or ``tracked``/``activity``/``last_seen`` (highest/newest first)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    if key == "tracked":
        return sorted(rows, key=lambda row: (-row.tally.tracked_seconds, row.username))
    if key == "activity":
        return sorted(rows, key=lambda row: (-(row.tally.activity_percent or -1), row.username))
    if key == "last_seen":
        return sorted(rows, key=lambda row: (row.last_seen or epoch, row.username), reverse=True)
    return sorted(rows, key=lambda row: row.username)


# --------------------------------------------------------------------------- screenshots
def find_screenshot(session: Session, screenshot_id: int) -> tuple[Screenshot, str] | None:
    """The screenshot row and its owner's username, or None."""
    row = session.execute(
        select(Screenshot, User.username).join(User, User.id == Screenshot.user_id).where(
            Screenshot.id == screenshot_id
        )
    ).first()
    return None if row is None else (row[0], row[1])


def record_deletion(
    session: Session, screenshot: Screenshot, username: str, actor: str, at: datetime
) -> None:
    """Delete the screenshot's row and write the audit entry (the caller deletes the object)."""
    session.add(
        ScreenshotDeletion(
            at=at, actor=actor, username=username, key=screenshot.key, taken_at=screenshot.taken_at
        )
    )
    session.delete(screenshot)
    session.flush()


def deletion_log(session: Session, limit: int = 500) -> list[ScreenshotDeletion]:
    """The newest screenshot deletions first."""
    query = select(ScreenshotDeletion).order_by(ScreenshotDeletion.id.desc()).limit(limit)
    return list(session.scalars(query))


# --------------------------------------------------------------------------- CSV
REPORT_CSV_COLUMNS = (
    "username", "zone", "date", "hours_in_day", "tracked_seconds", "tracked_hours", "active_seconds",
    "activity_percent", "idle_minutes", "paused_minutes", "suspended_minutes", "keys", "clicks",
)
SLOT_CSV_COLUMNS = (
    "username", "zone", "date", "slot_start_local", "slot_start_utc", "state", "sample_minutes",
    "tracking_minutes", "idle_minutes", "paused_minutes", "suspended_minutes", "active_seconds",
    "activity_percent", "keys", "clicks", "scrolls", "mouse_px", "screenshots",
)


def _percent_text(value: int | None) -> str:
    return "" if value is None else str(value)


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
                tally.suspended_minutes, tally.keys, tally.clicks,
            ])


def _hours_text(hours: float) -> str:
    return str(int(hours)) if hours == int(hours) else f"{hours:g}"


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
                tally.mouse_px, len(slot.screenshots),
            ])


def read_csv_rows(text: str) -> list[dict[str, str]]:
    """Parse CSV written here (skipping ``#`` lines) into dicts; for tests and scripts."""
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines))


def as_json(tally: Tally) -> Mapping[str, Any]:
    """A tally's JSON-ready form (with tracked_seconds, activity_percent and state)."""
    return {
        **{name: getattr(tally, name) for name in Tally.__slots__},
        "tracked_seconds": tally.tracked_seconds,
        "activity_percent": tally.activity_percent,
        "state": tally.state,
    }
