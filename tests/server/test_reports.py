"""server/reports/ on SQLite and PostgreSQL: slots, gaps, states, DST days, zones, totals, team today, CSV."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from server_support import read_csv_rows

import time_manager
from contract.activity import MinuteSample
from contract.devices import AgentHealth
from contract.errors import ConfigError
from server.db import activity_data, agents, config_data, models
from server.db.database import Database
from server.reports.csv_export import write_report_csv, write_slots_csv
from server.reports.days import team_report
from server.reports.diary import DiaryDay, diary_day
from server.reports.team import sort_team, team_today
from server.reports.zones import ZoneChoice, user_zones

NEW_YORK = "America/New_York"
KOLKATA = "Asia/Kolkata"
RECEIVED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated, empty database (SQLite and PostgreSQL)."""
    db = Database(database_url)
    db.migrate()
    try:
        yield db
    finally:
        db.dispose()


def add_account(db: Database, username: str) -> models.User:
    with db.session() as session:
        user = models.User(
            username=username, email=f"{username}@example.com", password_hash="-", is_admin=False,
            is_enabled=True, created_at=RECEIVED,
        )
        session.add(user)
        session.flush()
        return user


def minutes(
    start: datetime, count: int, *, state: str = "tracking", active: int = 30, keys: int = 2,
    zone: str = "UTC",
) -> list[MinuteSample]:
    return [
        MinuteSample(
            minute_start=start + timedelta(minutes=n), active_seconds=active if state == "tracking" else 0,
            keys=keys if state == "tracking" else 0, clicks=1 if state == "tracking" else 0, scrolls=0,
            mouse_px=10, state=state, timezone=zone, utc_offset_minutes=0,
        )
        for n in range(count)
    ]


def store_minutes(db: Database, user: models.User, records: list[MinuteSample]) -> None:
    with db.session() as session:
        activity_data.upsert_activity(session, user.id, records, RECEIVED)


def diary(db: Database, user: models.User, day: date, zone: str | None = None) -> DiaryDay:
    with db.session() as session:
        account = session.get(models.User, user.id)
        assert account is not None
        choice = user_zones(session, [account], zone)[account.id]
        return diary_day(session, account, day, choice)


def test_slots_show_activity_states_and_gaps_not_zeros(database: Database) -> None:
    ann = add_account(database, "ann")
    nine = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    store_minutes(database, ann, minutes(nine, 10, active=30))  # 09:00 full slot at 50 %
    store_minutes(database, ann, minutes(nine + timedelta(minutes=10), 5, state="idle"))
    store_minutes(database, ann, minutes(nine + timedelta(minutes=20), 10, state="paused"))
    store_minutes(database, ann, minutes(nine + timedelta(minutes=30), 10, state="suspended"))
    store_minutes(database, ann, minutes(nine + timedelta(minutes=40), 4, active=60))  # partly reported

    day = diary(database, ann, date(2026, 11, 20))

    assert day.zone == ZoneChoice("UTC", "activity")
    assert day.hours_in_day == 24 and len(day.slots) == 144 and len(day.hour_rows) == 24
    by_label = {slot.label: slot for slot in day.slots}
    assert by_label["09:00"].tally.activity_percent == 50
    assert by_label["09:00"].tally.keys == 20 and by_label["09:00"].tally.state == "tracking"
    assert by_label["09:10"].tally.state == "idle" and by_label["09:10"].tally.activity_percent is None
    assert by_label["09:20"].tally.state == "paused"
    assert by_label["09:30"].tally.state == "suspended"
    assert by_label["09:40"].tally.activity_percent == 100  # 4 tracked minutes, all active
    assert by_label["09:50"].tally.state == "gap" and by_label["09:50"].tally.activity_percent is None
    assert by_label["08:50"].tally.hover_text == "no data"
    assert "5 min idle" in by_label["09:10"].tally.hover_text
    assert day.totals.tracking_minutes == 14
    assert day.totals.tracked_seconds == 14 * 60
    assert day.totals.active_seconds == 10 * 30 + 4 * 60


def test_a_new_york_fall_back_day_has_25_hours_and_the_repeated_hour_twice(database: Database) -> None:
    ann = add_account(database, "ann")
    # 01:30 EDT is 05:30 UTC; 01:30 EST is 06:30 UTC.
    store_minutes(database, ann, minutes(datetime(2026, 11, 1, 5, 30, tzinfo=UTC), 10, zone=NEW_YORK))
    store_minutes(
        database, ann, minutes(datetime(2026, 11, 1, 6, 30, tzinfo=UTC), 10, zone=NEW_YORK, active=60),
    )

    day = diary(database, ann, date(2026, 11, 1))

    assert day.zone.name == NEW_YORK
    assert day.hours_in_day == 25 and len(day.slots) == 150
    labels = [row.label for row in day.hour_rows]
    assert labels[:4] == ["00:00 EDT", "01:00 EDT", "01:00 EST", "02:00 EST"]
    assert len(labels) == 25
    first, second = day.hour_rows[1].slots[3], day.hour_rows[2].slots[3]
    assert first.label == second.label == "01:30"
    assert (first.tally.activity_percent, second.tally.activity_percent) == (50, 100)


def test_a_new_york_spring_forward_day_has_23_hours(database: Database) -> None:
    ann = add_account(database, "ann")
    # 03:00 EDT on 2026-03-08 is 07:00 UTC, the first hour after the gap.
    store_minutes(database, ann, minutes(datetime(2026, 3, 8, 7, 0, tzinfo=UTC), 10, zone=NEW_YORK))

    day = diary(database, ann, date(2026, 3, 8))

    assert day.hours_in_day == 23 and len(day.slots) == 138
    labels = [row.label for row in day.hour_rows]
    assert labels[1:3] == ["01:00 EST", "03:00 EDT"]
    assert day.hour_rows[2].slots[0].tally.tracking_minutes == 10


def test_an_admin_zone_moves_minutes_to_that_zones_local_day(database: Database) -> None:
    ann = add_account(database, "ann")
    # 2026-11-10 20:00 UTC is 15:00 in New York on the 10th and 01:30 in Kolkata on the 11th.
    store_minutes(database, ann, minutes(datetime(2026, 11, 10, 20, 0, tzinfo=UTC), 10, zone=NEW_YORK))

    own = diary(database, ann, date(2026, 11, 10))
    kolkata_10 = diary(database, ann, date(2026, 11, 10), KOLKATA)
    kolkata_11 = diary(database, ann, date(2026, 11, 11), KOLKATA)

    assert own.zone.source == "activity" and own.totals.tracking_minutes == 10
    assert kolkata_10.zone == ZoneChoice(KOLKATA, "chosen")
    assert kolkata_10.totals.sample_minutes == 0
    assert kolkata_11.totals.tracking_minutes == 10
    busy = [slot for slot in kolkata_11.slots if slot.tally.sample_minutes]
    assert [slot.label for slot in busy] == ["01:30"]
    assert busy[0].local_start.tzname() == "IST"


def test_a_user_without_activity_uses_the_configured_zone(database: Database) -> None:
    bob = add_account(database, "bob")
    with database.session() as session:
        account = session.get(models.User, bob.id)
        assert account is not None
        config_data.update_user_overrides(session, "root", account, {"timezone": KOLKATA}, RECEIVED)
    with database.session() as session:
        account = session.get(models.User, bob.id)
        assert account is not None
        assert user_zones(session, [account])[bob.id] == ZoneChoice(KOLKATA, "config")


def test_the_team_report_sums_each_users_local_days_and_the_csv_matches(database: Database) -> None:
    ann = add_account(database, "ann")
    bob = add_account(database, "bob")
    store_minutes(database, ann, minutes(datetime(2026, 11, 1, 14, 0, tzinfo=UTC), 60, zone=NEW_YORK))
    store_minutes(
        database, ann, minutes(datetime(2026, 11, 2, 14, 0, tzinfo=UTC), 30, zone=NEW_YORK, active=60)
    )
    store_minutes(database, bob, minutes(datetime(2026, 11, 1, 23, 0, tzinfo=UTC), 20, zone=KOLKATA))
    store_minutes(
        database, bob, minutes(datetime(2026, 11, 2, 0, 0, tzinfo=UTC), 5, state="idle", zone=KOLKATA)
    )

    with database.session() as session:
        report = team_report(session, date(2026, 11, 1), date(2026, 11, 3))

    assert [user.username for user in report.users] == ["ann", "bob"]
    ann_days, bob_days = report.users
    assert ann_days.hours_in_days[date(2026, 11, 1)] == 25
    assert ann_days.days[date(2026, 11, 1)].tracking_minutes == 60
    assert ann_days.days[date(2026, 11, 2)].activity_percent == 100
    assert date(2026, 11, 3) not in ann_days.days  # a day without data is absent, not zero
    # 23:00 UTC on the 1st is 04:30 on the 2nd in Kolkata.
    assert bob_days.zone.name == KOLKATA and date(2026, 11, 1) not in bob_days.days
    assert bob_days.days[date(2026, 11, 2)].tracking_minutes == 20
    assert bob_days.days[date(2026, 11, 2)].idle_minutes == 5
    assert report.total.tracked_seconds == (60 + 30 + 20) * 60
    assert KOLKATA in report.zone_caption and NEW_YORK in report.zone_caption

    buffer = io.StringIO()
    write_report_csv(report, buffer)
    text = buffer.getvalue()
    assert text.splitlines()[0].startswith("# Vinova report 2026-11-01..2026-11-03; zone: each user's own")
    rows = read_csv_rows(text)
    assert [(row["username"], row["date"], row["tracked_seconds"]) for row in rows] == [
        ("ann", "2026-11-01", "3600"), ("ann", "2026-11-02", "1800"), ("bob", "2026-11-02", "1200"),
    ]
    assert rows[0]["hours_in_day"] == "25" and rows[0]["zone"] == NEW_YORK
    assert rows[1]["activity_percent"] == "100"


@pytest.mark.parametrize(
    ("zone", "first_day"),
    [
        (NEW_YORK, date(2026, 3, 7)),  # 23-hour spring-forward day
        (NEW_YORK, date(2026, 10, 31)),  # 25-hour fall-back day
        ("America/Santiago", date(2026, 4, 3)),  # clocks go back at midnight
        ("Australia/Lord_Howe", date(2026, 10, 3)),  # 30-minute DST: a 23.5-hour day
        ("Pacific/Chatham", date(2026, 9, 26)),  # +12:45 -> +13:45
        ("Asia/Kathmandu", date(2026, 4, 30)),  # +05:45
        ("Africa/Monrovia", date(1971, 6, 1)),  # -00:44: days not on 15-minute edges
    ],
)
def test_the_reports_days_match_the_diarys_minute_totals_in_odd_zones_and_dst_days(
    database: Database, zone: str, first_day: date
) -> None:
    ann = add_account(database, "ann")
    last_day = first_day + timedelta(days=2)
    start = time_manager.local_day_bounds(first_day, zone)[0] - timedelta(hours=1)
    end = time_manager.local_day_bounds(last_day, zone)[1] + timedelta(hours=1)
    states = ("tracking", "tracking", "idle", "paused", "tracking", "suspended")
    records = [
        MinuteSample(
            minute_start=start + timedelta(minutes=n), active_seconds=n % 61, keys=n % 7, clicks=n % 3,
            scrolls=1, mouse_px=n, state=states[n % len(states)], timezone=zone, utc_offset_minutes=0,
        )
        for n in range(0, int((end - start).total_seconds() // 60), 4)
    ]
    store_minutes(database, ann, records)

    with database.session() as session:
        report = team_report(session, first_day, last_day)
    diaries = [diary(database, ann, first_day + timedelta(days=n)) for n in range(3)]

    (row,) = report.users
    assert row.zone.name == zone
    assert [row.days[day.day] for day in diaries] == [day.totals for day in diaries]
    assert [row.hours_in_days[day.day] for day in diaries] == [day.hours_in_day for day in diaries]
    assert sum(day.totals.sample_minutes for day in diaries) == len(
        [item for item in records if diaries[0].start <= item.minute_start < diaries[-1].end]
    )


def test_the_report_in_one_chosen_zone_puts_everyone_on_that_zones_days(database: Database) -> None:
    ann = add_account(database, "ann")
    store_minutes(database, ann, minutes(datetime(2026, 11, 1, 20, 0, tzinfo=UTC), 10, zone=NEW_YORK))
    with database.session() as session:
        report = team_report(session, date(2026, 11, 1), date(2026, 11, 2), KOLKATA)
    assert report.zone_caption == KOLKATA
    assert list(report.users[0].days) == [date(2026, 11, 2)]  # 01:30 IST on the 2nd
    assert report.users[0].hours_in_days[date(2026, 11, 1)] == 24


def test_the_slot_csv_lists_every_slot_with_gaps(database: Database) -> None:
    ann = add_account(database, "ann")
    store_minutes(database, ann, minutes(datetime(2026, 11, 20, 9, 0, tzinfo=UTC), 10))
    buffer = io.StringIO()
    write_slots_csv([diary(database, ann, date(2026, 11, 20))], buffer)
    rows = read_csv_rows(buffer.getvalue())
    assert len(rows) == 144
    nine = next(row for row in rows if row["slot_start_utc"] == "2026-11-20T09:00:00+00:00")
    assert (nine["state"], nine["tracking_minutes"], nine["activity_percent"]) == ("tracking", "10", "50")
    assert {row["state"] for row in rows} == {"tracking", "gap"}


def test_team_today_shows_status_last_seen_offline_and_backlog(database: Database) -> None:
    ann = add_account(database, "ann")
    bob = add_account(database, "bob")
    add_account(database, "cat")
    now = datetime(2026, 11, 20, 15, 0, 30, tzinfo=UTC)
    with database.session() as session:
        upsert = activity_data.upsert_activity
        upsert(session, ann.id, minutes(now - timedelta(minutes=31), 30, active=45), now)
        upsert(session, ann.id, minutes(now - timedelta(minutes=1), 1, state="paused"), now)
        report = AgentHealth(
            uploads_waiting=3, kept_aside=1, minutes_set_aside=2, input_ok=False, input_restarts=1
        )
        agents.upsert_device(session, ann.id, None, report, now)
        early = now - timedelta(hours=2)
        activity_data.upsert_activity(session, bob.id, minutes(early - timedelta(minutes=5), 5), early)

    with database.session() as session:
        rows = {row.username: row for row in team_today(session, now)}
        filtered = team_today(session, now, name_filter="AN")

    assert rows["ann"].status == "paused"
    assert rows["ann"].tally.tracked_seconds == 30 * 60 and rows["ann"].tally.activity_percent == 75
    assert (rows["ann"].uploads_waiting, rows["ann"].kept_aside, rows["ann"].minutes_set_aside) == (3, 1, 2)
    warning = "default device: input listeners are not running: minutes may show as idle"
    assert rows["ann"].input_warnings == [warning]
    assert rows["ann"].last_seen == now
    assert rows["bob"].status == "offline"
    assert rows["bob"].offline_since == early
    assert rows["bob"].uploads_waiting is None
    assert rows["cat"].status == "never" and rows["cat"].last_seen is None
    assert [row.username for row in filtered] == ["ann"]
    ordered = sort_team(list(rows.values()), "tracked")
    assert [row.username for row in ordered] == ["ann", "bob", "cat"]


def test_the_agent_backlog_is_validated_with_the_batch() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    body = {"samples": [], "agent": {"uploads_waiting": 2, "kept_aside": 0}}
    batch = activity_data.parse_activity_batch(body, now)
    assert batch.samples == () and batch.agent == AgentHealth(uploads_waiting=2, kept_aside=0)
    assert activity_data.parse_activity_batch({"samples": []}, now).agent is None
    with pytest.raises(ConfigError) as refused:
        activity_data.parse_activity_batch({"samples": [], "agent": {"uploads_waiting": -1, "extra": 1}}, now)
    assert refused.value.errors == {
        "agent.extra": "unknown field", "agent.uploads_waiting": "must be between 0 and 2147483647",
    }
