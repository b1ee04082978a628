"""``idle_kept`` in the reports (issue 12): idle minutes a person counted as work are tracked time with
0 activity, shown apart, on SQLite and PostgreSQL; a resent minute replaces the idle one per device."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from server_support import read_csv_rows
from sqlalchemy import select

from contract.activity import STATE_PRECEDENCE, MinuteSample, activity_percent, merge_device_minutes
from contract.devices import DeviceIdentity
from server.db import activity_data, agents, models
from server.db.database import Database
from server.db.rollups import rebuild_rollup
from server.reports.csv_export import write_report_csv, write_slots_csv
from server.reports.days import team_report
from server.reports.diary import diary_day
from server.reports.tallies import Tally, as_json
from server.reports.zones import user_zones

RECEIVED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NINE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
LAPTOP = DeviceIdentity("a" * 32, "laptop")
DESKTOP = DeviceIdentity("b" * 32, "desktop")


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    db.migrate()
    try:
        yield db
    finally:
        db.dispose()


def add_account(db: Database, username: str = "ann") -> int:
    with db.session() as session:
        user = models.User(username=username, email=f"{username}@example.com", password_hash="-",
                           is_admin=False, is_enabled=True, created_at=RECEIVED)
        session.add(user)
        session.flush()
        return user.id


def minutes(start: datetime, count: int, state: str, active: int = 0) -> list[MinuteSample]:
    return [MinuteSample(start + timedelta(minutes=n), active, 3 if active else 0, 0, 0, 0, state, "UTC", 0)
            for n in range(count)]


def store(
    db: Database, user_id: int, samples: list[MinuteSample], device: DeviceIdentity | None = None
) -> None:
    with db.session() as session:
        device_id = agents.upsert_device(session, user_id, device, None, RECEIVED) if device else None
        activity_data.upsert_activity(session, user_id, samples, RECEIVED, device_id=device_id)


def test_kept_minutes_count_as_tracked_time_with_no_activity_in_day_reports(database: Database) -> None:
    ann = add_account(database)
    store(database, ann, minutes(NINE, 10, "tracking", active=30))  # 10 tracked minutes at 50 %
    store(database, ann, minutes(NINE + timedelta(minutes=10), 10, "idle_kept"))
    store(database, ann, minutes(NINE + timedelta(minutes=20), 5, "idle"))

    with database.session() as session:
        report = team_report(session, date(2026, 11, 20), date(2026, 11, 20), "UTC")
    tally = report.users[0].days[date(2026, 11, 20)]

    assert (tally.tracking_minutes, tally.idle_kept_minutes, tally.idle_minutes) == (10, 10, 5)
    assert tally.tracked_seconds == 20 * 60
    assert tally.active_seconds == 300 and tally.activity_percent == 25  # 300 s of 1200 tracked
    assert as_json(tally)["idle_kept_minutes"] == 10 and as_json(tally)["tracked_seconds"] == 1200
    with database.session() as session:
        rollups = session.scalars(select(models.ActivityRollup).order_by(models.ActivityRollup.bucket_start))
        assert [row.idle_kept_minutes for row in rollups] == [5, 5]  # 09:00-09:15 and 09:15-09:30


def test_the_diary_shows_a_kept_slot_apart_and_the_csv_has_its_column(database: Database) -> None:
    ann = add_account(database)
    store(database, ann, minutes(NINE, 6, "idle_kept") + minutes(NINE + timedelta(minutes=6), 4, "idle"))
    store(database, ann, minutes(NINE + timedelta(minutes=10), 10, "idle"))

    with database.session() as session:
        account = session.get(models.User, ann)
        assert account is not None
        day = diary_day(session, account, date(2026, 11, 20), user_zones(session, [account], "UTC")[ann])
        report = team_report(session, date(2026, 11, 20), date(2026, 11, 20), "UTC")
    slots = {slot.label: slot.tally for slot in day.slots}

    assert slots["09:00"].state == "idle_kept" and slots["09:00"].activity_percent == 0
    assert slots["09:00"].tracked_seconds == 360
    assert "6 min idle counted as work" in slots["09:00"].hover_text
    assert slots["09:10"].state == "idle" and slots["09:10"].activity_percent is None
    slot_stream, report_stream = io.StringIO(), io.StringIO()
    write_slots_csv([day], slot_stream)
    write_report_csv(report, report_stream)
    slot_rows = {row["slot_start_utc"]: row for row in read_csv_rows(slot_stream.getvalue())}
    assert slot_rows[NINE.isoformat()]["idle_kept_minutes"] == "6"
    assert slot_rows[NINE.isoformat()]["state"] == "idle_kept"
    (day_row,) = read_csv_rows(report_stream.getvalue())
    assert day_row["idle_kept_minutes"] == "6" and day_row["tracked_seconds"] == "360"
    assert day_row["idle_minutes"] == "14"


def test_a_resent_minute_with_the_new_state_replaces_the_idle_one(database: Database) -> None:
    ann = add_account(database)
    store(database, ann, minutes(NINE, 14, "idle"), LAPTOP)
    store(database, ann, minutes(NINE, 14, "idle_kept"), LAPTOP)  # the person's answer came later

    with database.session() as session:
        stored = session.scalars(select(models.ActivitySample.state)).all()
        report = team_report(session, date(2026, 11, 20), date(2026, 11, 20), "UTC")
    tally = report.users[0].days[date(2026, 11, 20)]

    assert sorted(set(stored)) == ["idle_kept"] and len(stored) == 14
    assert (tally.idle_minutes, tally.idle_kept_minutes, tally.sample_minutes) == (0, 14, 14)


def test_devices_merge_kept_over_idle_and_input_over_kept(database: Database) -> None:
    ann = add_account(database)
    store(database, ann, minutes(NINE, 4, "idle_kept"), LAPTOP)
    store(database, ann, minutes(NINE, 2, "idle") + minutes(NINE + timedelta(minutes=2), 2, "tracking", 20),
          DESKTOP)

    with database.session() as session:
        report = team_report(session, date(2026, 11, 20), date(2026, 11, 20), "UTC")
        rebuilt = rebuild_rollup(session, ann)
        again = team_report(session, date(2026, 11, 20), date(2026, 11, 20), "UTC")
    tally = report.users[0].days[date(2026, 11, 20)]

    assert (tally.idle_kept_minutes, tally.tracking_minutes, tally.idle_minutes) == (2, 2, 0)
    assert tally.active_seconds == 40 and tally.tracked_seconds == 240
    assert rebuilt == 1 and again.users[0].days[date(2026, 11, 20)] == tally


def test_the_contract_ranks_kept_right_after_tracking() -> None:
    assert STATE_PRECEDENCE[:3] == ("tracking", "idle_kept", "idle")
    idle, kept = minutes(NINE, 1, "idle")[0], minutes(NINE, 1, "idle_kept")[0]
    quiet_tracking = minutes(NINE, 1, "tracking")[0]
    assert merge_device_minutes([idle, kept]).state == "idle_kept"
    assert merge_device_minutes([kept, quiet_tracking]).state == "tracking"
    assert activity_percent(0, 600) == 0
    assert Tally(sample_minutes=3, idle_kept_minutes=2, idle_minutes=1).state == "idle_kept"
    assert Tally(sample_minutes=3, idle_kept_minutes=1, idle_minutes=2).state == "idle"
