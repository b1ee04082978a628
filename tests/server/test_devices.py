"""Several devices of one user: minutes kept per device, merged per minute in every report (item 1)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from server_support import Server, ServerSetup, read_csv_rows
from sqlalchemy import func, select

from contract.activity import COUNT_FIELDS, MinuteSample, add_counts, merge_device_minutes
from contract.devices import DeviceIdentity
from server.db import activity_data
from server.db.database import Database
from server.db.device_minutes import merged_minutes
from server.db.models import ActivityRollup, ActivitySample, Device, UtcDateTime
from server.db.users import find_user
from server.reports.diary import diary_day
from server.reports.zones import ZoneChoice

NOW = datetime(2026, 11, 25, 18, 0, 30, tzinfo=UTC)
MINUTE = NOW.replace(second=0) - timedelta(minutes=3)
DESKTOP = {"id": "a" * 32, "name": "desktop"}
LAPTOP = {"id": "b" * 32, "name": "laptop"}


@pytest.fixture
def server_setup() -> ServerSetup:
    """An admin (ann) and a user (bob), both signed in, at NOW."""
    return ServerSetup(users={"ann": True, "bob": False}, signed_in=True, start=NOW)


def sample(minute: datetime = MINUTE, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "minute_start": minute.isoformat(), "active_seconds": 40, "keys": 30, "clicks": 4, "scrolls": 1,
        "mouse_px": 900, "state": "tracking", "timezone": "UTC", "utc_offset_minutes": 0,
    }
    values.update(changes)
    return values


IDLE: dict[str, Any] = {
    "active_seconds": 0, "keys": 0, "clicks": 0, "scrolls": 0, "mouse_px": 0, "state": "idle",
}


def post(server: Server, body: Any, who: str = "bob") -> Any:
    return server.client.post("/activity", headers=server.headers(who), json=body)


def test_an_idle_laptop_no_longer_erases_the_busy_desktops_minute(server: Server) -> None:
    assert post(server, {"device": DESKTOP, "samples": [sample()]}).get_json()["accepted"] == 1
    assert post(server, {"device": LAPTOP, "samples": [sample(**IDLE)]}).get_json()["accepted"] == 1
    admin = server.headers("ann")

    merged = server.client.get("/api/activity", headers=admin, query_string={"view": "merged"}).get_json()
    (minute,) = merged["samples"]
    assert (minute["state"], minute["active_seconds"], minute["keys"]) == ("tracking", 40, 30)
    assert minute["clicks"] == 4
    per_device = server.client.get("/api/activity", headers=admin).get_json()["samples"]
    assert [(row["device"]["name"], row["keys"]) for row in per_device] == [("desktop", 30), ("laptop", 0)]

    day_query = {"username": "bob", "date": "2026-11-25", "tz": "UTC"}
    day = server.client.get("/api/reports/diary", headers=admin, query_string=day_query).get_json()
    total = day["total"]
    assert (total["tracking_minutes"], total["active_seconds"], total["keys"]) == (1, 40, 30)
    assert {device["name"] for device in day["devices"]} == {"desktop", "laptop"}
    range_query = {"from": "2026-11-25", "to": "2026-11-25", "tz": "UTC"}
    days = server.client.get("/api/reports/days", headers=admin, query_string=range_query).get_json()
    bob = next(user for user in days["users"] if user["username"] == "bob")["total"]
    assert (bob["tracking_minutes"], bob["keys"], bob["activity_percent"]) == (1, 30, 67)

    browser = server.admin_browser("ann")
    csv_text = browser.get("/admin/report.csv?from=2026-11-25&to=2026-11-25&tz=UTC").get_data(True)
    csv_rows = read_csv_rows(csv_text)
    bob_row = next(row for row in csv_rows if row["username"] == "bob")
    assert (bob_row["tracked_seconds"], bob_row["active_seconds"], bob_row["keys"]) == ("60", "40", "30")
    with server.context.database.session() as session:
        rollup = session.scalars(select(ActivityRollup)).one()
        counts = (rollup.sample_minutes, rollup.tracking_minutes, rollup.idle_minutes, rollup.keys)
        assert counts == (1, 1, 0, 30)
        assert session.scalar(select(func.count(ActivitySample.id))) == 2


def test_two_busy_devices_take_the_larger_active_seconds_and_add_their_counts(server: Server) -> None:
    post(server, {"device": DESKTOP, "samples": [sample(active_seconds=50, keys=10)]})
    post(server, {"device": LAPTOP, "samples": [sample(active_seconds=20, keys=7, state="paused")]})
    merged = server.client.get(
        "/api/activity", headers=server.headers("ann"), query_string={"view": "merged"}
    ).get_json()["samples"]
    assert [(m["active_seconds"], m["keys"], m["state"]) for m in merged] == [(50, 17, "tracking")]


def test_an_old_agent_without_a_device_lands_on_the_default_device(server: Server) -> None:
    post(server, {"samples": [sample()]})
    post(server, {"samples": [sample(keys=31)]})
    with server.context.database.session() as session:
        devices = session.scalars(select(Device)).all()
        assert [(device.uid, device.name) for device in devices] == [("default", "default device")]
        assert session.scalar(select(ActivitySample.keys)) == 31


@pytest.mark.parametrize(
    ("device", "field"),
    [
        ({"id": "A" * 32, "name": "desk"}, "device.id"),
        ({"id": "a" * 31, "name": "desk"}, "device.id"),
        ({"id": "a" * 32 + "\n", "name": "desk"}, "device.id"),
        ({"id": "default", "name": "desk"}, "device.id"),
        ({"id": "a" * 32, "name": ""}, "device.name"),
        ({"id": "a" * 32, "name": "x" * 65}, "device.name"),
        ({"id": "a" * 32, "name": "desk\ud800"}, "device.name"),
        ({"id": "a" * 32, "name": "desk\x07"}, "device.name"),
        ({"id": "a" * 32}, "device.name"),
        ({"id": "a" * 32, "name": "desk", "os": "linux"}, "device.os"),
        ("desktop", "device"),
    ],
)
def test_a_bad_device_is_refused_naming_its_field_and_nothing_is_stored(
    server: Server, device: Any, field: str
) -> None:
    response = post(server, {"device": device, "samples": [sample()]})
    assert response.status_code == 400 and field in response.get_json()["error"]["fields"]
    with server.context.database.session() as session:
        assert session.scalar(select(func.count(ActivitySample.id))) == 0


def test_the_agent_report_is_kept_per_device_and_shown_on_the_team_page(server: Server) -> None:
    post(server, {"device": DESKTOP, "samples": [sample()], "agent": {"uploads_waiting": 2, "kept_aside": 1}})
    post(server, {"device": LAPTOP, "samples": [sample(**IDLE)],
                  "agent": {"input_ok": False, "input_restarts": 3, "minutes_set_aside": 4}})
    # A later report with only some fields keeps the others.
    post(server, {"device": DESKTOP, "samples": [], "agent": {"uploads_waiting": 0}})
    team = server.client.get("/api/reports/team", headers=server.headers("ann")).get_json()["users"]
    bob = next(user for user in team if user["username"] == "bob")
    assert (bob["uploads_waiting"], bob["kept_aside"], bob["minutes_set_aside"]) == (0, 1, 4)
    assert bob["input_warnings"] == ["laptop: input listeners are not running: minutes may show as idle"]
    html = server.admin_browser("ann").get("/admin/team").get_data(as_text=True)
    assert "desktop" in html and "laptop" in html
    assert "input listeners are not running" in html and "4 minute(s) set aside" in html


def test_the_diary_page_lists_the_users_devices(server: Server) -> None:
    post(server, {"device": DESKTOP, "samples": [sample()]})
    post(server, {"device": LAPTOP, "samples": [sample(**IDLE)], "agent": {"input_restarts": 2}})
    html = server.admin_browser("ann").get("/admin/diary/bob/2026-11-25?tz=UTC").get_data(as_text=True)
    assert 'id="devices"' in html and "desktop" in html and "laptop" in html
    assert "input listeners restarted 2 times" in html
    assert 'id="day-activity">67 %' in html


def test_the_sql_merge_agrees_with_the_contracts_rule_on_random_minutes(database_url: str) -> None:
    database = Database(database_url)
    database.migrate()
    rng = random.Random(10)
    start = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
    try:
        with database.session() as session:
            session.execute(sa.insert(sa.table("users", *(sa.column(c) for c in (
                "username", "email", "password_hash", "is_admin", "is_enabled", "created_at")))),
                [{"username": "ann", "email": "a@example.com", "password_hash": "-", "is_admin": False,
                  "is_enabled": True, "created_at": start.replace(tzinfo=None)}])
        by_minute: dict[datetime, list[MinuteSample]] = {}
        with database.session() as session:
            user = find_user(session, "ann")
            assert user is not None
            for device in range(3):
                identity = DeviceIdentity(f"{device:032x}", f"device {device}")
                records = []
                for minute in range(0, 24 * 60, 7):
                    if rng.random() < 0.4:
                        continue
                    state = rng.choice(("tracking", "idle", "paused", "suspended"))
                    active = rng.choice((0, 0, 10, 30, 60))
                    counts: tuple[int | None, ...] = (
                        rng.randint(0, 99), rng.randint(0, 9), 0, rng.randint(0, 999)
                    )
                    if device == 2 or rng.random() < 0.2:  # device 2 cannot count input (issue 15)
                        counts = (None, None, None, None)
                    keys, clicks, scrolls, mouse_px = counts
                    record = MinuteSample(start + timedelta(minutes=minute), active, keys, clicks, scrolls,
                                          mouse_px, state, "UTC", 0)
                    records.append(record)
                    by_minute.setdefault(record.minute_start, []).append(record)
                batch = activity_data.ActivityBatch(tuple(records), (), identity, None)
                activity_data.store_activity(session, user.id, batch, start + timedelta(days=1))
        merged = [merge_device_minutes(group) for group in by_minute.values()]
        tracking = [minute for minute in merged if minute.state == "tracking"]
        with database.session() as session:
            user = find_user(session, "ann")
            assert user is not None
            day = diary_day(session, user, start.date(), ZoneChoice("UTC", "chosen"))
            rollup = session.execute(select(
                func.sum(ActivityRollup.tracking_minutes), func.sum(ActivityRollup.idle_minutes),
                func.sum(ActivityRollup.active_seconds), func.sum(ActivityRollup.keys),
            )).one()
            sql_minutes = session.execute(select(merged_minutes(ActivitySample.user_id == user.id))).all()
        assert {
            row.minute_start: (row.state, row.active_seconds, *(getattr(row, name) for name in COUNT_FIELDS))
            for row in sql_minutes
        } == {
            minute.minute_start: (
                minute.state, minute.active_seconds, *(getattr(minute, name) for name in COUNT_FIELDS)
            )
            for minute in merged
        }
        expected = (
            len(tracking), sum(1 for minute in merged if minute.state == "idle"),
            sum(minute.active_seconds for minute in tracking), add_counts(minute.keys for minute in merged),
        )
        totals = day.totals
        assert (totals.tracking_minutes, totals.idle_minutes, totals.active_seconds, totals.keys) == expected
        assert tuple(int(value) for value in rollup) == expected
        assert any(minute.keys is None for minute in merged)  # some minutes no device counted
        assert totals.sample_minutes == len(merged)
    finally:
        database.dispose()


def test_the_device_migration_files_old_minutes_and_reports_under_each_users_default_device(
    database_url: str,
) -> None:
    from alembic import command

    database = Database(database_url)
    try:
        with database.engine.begin() as connection:
            command.upgrade(database._alembic_config(connection), "0003")
        created = NOW

        def columns(*names: str) -> list[sa.ColumnClause[Any]]:
            # Timestamps as the 0003 server wrote them (UtcDateTime: naive UTC text on SQLite).
            return [sa.column(name, UtcDateTime()) if name.endswith(("_at", "_start")) else sa.column(name)
                    for name in names]

        users = sa.table("users", *columns(
            "id", "username", "email", "password_hash", "is_admin", "is_enabled", "created_at"))
        samples = sa.table("activity_samples", *columns(
            "user_id", "minute_start", "active_seconds", "keys", "clicks", "scrolls", "mouse_px", "state",
            "timezone", "utc_offset_minutes", "received_at"))
        reports = sa.table(
            "agent_reports", *columns("user_id", "uploads_waiting", "kept_aside", "reported_at")
        )
        with database.engine.begin() as connection:
            connection.execute(sa.insert(users), [
                {"id": n, "username": name, "email": f"{name}@example.com", "password_hash": "-",
                 "is_admin": False, "is_enabled": True, "created_at": created}
                for n, name in ((1, "ann"), (2, "bob"), (3, "cy"))
            ])
            minutes = [created.replace(second=0) - timedelta(minutes=n) for n in range(1, 4)]
            connection.execute(sa.insert(samples), [
                {"user_id": user_id, "minute_start": minute, "active_seconds": 30, "keys": 5, "clicks": 1,
                 "scrolls": 0, "mouse_px": 10, "state": "tracking", "timezone": "UTC",
                 "utc_offset_minutes": 0, "received_at": created}
                for user_id in (1, 2) for minute in minutes
            ])
            connection.execute(sa.insert(reports), [
                {"user_id": 2, "uploads_waiting": 4, "kept_aside": 1, "reported_at": created},
                {"user_id": 3, "uploads_waiting": 0, "kept_aside": 0, "reported_at": created},
            ])

        database.migrate()

        assert "agent_reports" not in sa.inspect(database.engine).get_table_names()
        with database.session() as session:
            devices = {row.user_id: row for row in session.scalars(select(Device))}
            assert sorted(devices) == [1, 2, 3]
            assert {row.uid for row in devices.values()} == {"default"}
            assert (devices[2].uploads_waiting, devices[2].kept_aside) == (4, 1)
            assert devices[1].uploads_waiting is None and devices[1].last_seen_at == NOW
            assert devices[1].first_seen_at == NOW.replace(second=0) - timedelta(minutes=3)
            moved = session.execute(select(ActivitySample.user_id, ActivitySample.device_id)).all()
            assert len(moved) == 6
            assert all(device_id == devices[user_id].id for user_id, device_id in moved)
        # The next post of an old agent updates the same default device and the same minute.
        with database.session() as session:
            stored = activity_data.upsert_activity(
                session, 1, [MinuteSample(NOW.replace(second=0) - timedelta(minutes=1), 50, 9, 0, 0, 0,
                                          "tracking", "UTC", 0)], NOW)
            assert stored == 1
            assert session.scalar(select(func.count(ActivitySample.id))) == 6
            assert session.scalar(select(func.count(Device.id))) == 3
    finally:
        database.dispose()
