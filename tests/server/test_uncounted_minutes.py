"""Minutes whose input was not counted (issue 15): null counts stored, summed and shown, never as 0.

A device that cannot see input events sends ``keys``, ``clicks``, ``scrolls`` and ``mouse_px`` as
JSON null. The server keeps NULL, adds only the numbers there are, and shows "—" on pages, an empty
cell in CSV and null in JSON (SQLite and PostgreSQL).
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from me_support import browser_of
from server_support import Server, ServerSetup, read_csv_rows
from sqlalchemy import inspect, select

from contract.activity import COUNT_FIELDS
from server.db import rollups
from server.db.database import Database
from server.db.models import ActivityRollup, ActivitySample

NOW = datetime(2026, 11, 25, 18, 0, 30, tzinfo=UTC)
DAY_START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
DAY = "2026-11-25"
DESKTOP = {"id": "a" * 32, "name": "desktop"}
WAYLAND_LAPTOP = {"id": "b" * 32, "name": "wayland laptop"}
UNCOUNTED = {name: None for name in COUNT_FIELDS}


@pytest.fixture
def server_setup() -> ServerSetup:
    """An admin (root) and two people (ann, bob), all signed in, at NOW."""
    return ServerSetup(users={"root": True, "ann": False, "bob": False}, signed_in=True, start=NOW)


def sample(minute: datetime, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "minute_start": minute.isoformat(), "active_seconds": 30, "keys": 10, "clicks": 2, "scrolls": 1,
        "mouse_px": 500, "state": "tracking", "timezone": "UTC", "utc_offset_minutes": 0,
    }
    values.update(changes)
    return values


def post(server: Server, who: str, body: Any) -> Any:
    response = server.client.post("/activity", headers=server.headers(who), json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def mixed_day(server: Server) -> None:
    """ann: 3 minutes on the desktop (counted), 4 on the Wayland laptop (not), 2 of them the same minutes;
    bob: 5 minutes on the Wayland laptop only."""
    desktop = [sample(DAY_START + timedelta(minutes=n)) for n in range(3)]
    laptop = [sample(DAY_START + timedelta(minutes=n + 1), active_seconds=50, **UNCOUNTED) for n in range(4)]
    post(server, "ann", {"device": DESKTOP, "samples": desktop})
    post(server, "ann", {"device": WAYLAND_LAPTOP, "samples": laptop})
    wayland_only = [sample(DAY_START + timedelta(minutes=n), **UNCOUNTED) for n in range(5)]
    post(server, "bob", {"device": WAYLAND_LAPTOP, "samples": wayland_only})


def test_null_counts_are_stored_as_null_and_read_back_as_null(server: Server) -> None:
    minute = NOW.replace(second=0) - timedelta(minutes=2)
    answer = post(server, "ann", {"device": WAYLAND_LAPTOP, "samples": [sample(minute, **UNCOUNTED)]})
    assert answer == {"accepted": 1, "refused": []}
    with server.context.database.session() as session:
        stored = session.scalars(select(ActivitySample)).one()
        assert [getattr(stored, name) for name in COUNT_FIELDS] == [None] * 4
        assert stored.active_seconds == 30
    (read,) = server.client.get("/api/activity", headers=server.headers("ann")).get_json()["samples"]
    assert {name: read[name] for name in COUNT_FIELDS} == UNCOUNTED
    assert read["active_seconds"] == 30


def test_a_count_that_is_neither_a_number_nor_null_is_still_refused_by_name(server: Server) -> None:
    minute = NOW.replace(second=0) - timedelta(minutes=2)
    answer = post(server, "ann", {"samples": [sample(minute, keys="12"), sample(minute, clicks=-1),
                                              sample(minute, mouse_px=None)]})
    assert answer["accepted"] == 1
    assert [(item["index"], item["field"]) for item in answer["refused"]] == [
        (0, "samples[0].keys"), (1, "samples[1].clicks"),
    ]


def test_a_mixed_day_sums_only_the_counted_minutes_and_an_uncounted_day_is_null(server: Server) -> None:
    mixed_day(server)
    client = server.app.test_client()
    query = f"date={DAY}&tz=UTC"
    ann = client.get(f"/api/reports/diary?username=ann&{query}", headers=server.headers("root")).get_json()
    assert {name: ann["total"][name] for name in COUNT_FIELDS} == {
        "keys": 30, "clicks": 6, "scrolls": 3, "mouse_px": 1500,
    }
    assert ann["total"]["sample_minutes"] == 5  # minutes 0..4, devices merged
    assert ann["total"]["active_seconds"] == 30 + 50 * 4  # activity % still from active seconds
    bob = client.get(f"/api/reports/diary?username=bob&{query}", headers=server.headers("root")).get_json()
    assert {name: bob["total"][name] for name in COUNT_FIELDS} == UNCOUNTED
    assert bob["total"]["activity_percent"] == 50
    assert all(slot["keys"] is None for slot in bob["slots"])

    days = client.get(f"/api/reports/days?from={DAY}&to={DAY}&tz=UTC", headers=server.headers("root"))
    users = {user["username"]: user for user in days.get_json()["users"]}
    assert users["ann"]["total"]["keys"] == 30 and users["ann"]["days"][DAY]["clicks"] == 6
    assert users["bob"]["total"]["keys"] is None and users["bob"]["days"][DAY]["mouse_px"] is None
    with server.context.database.session() as session:
        buckets = session.execute(select(ActivityRollup.user_id, ActivityRollup.keys)).all()
    assert sorted(keys is None for _, keys in buckets) == [False, True]  # ann's bucket counted, bob's not

    own = client.get(f"/api/me/report?from={DAY}&to={DAY}&tz=UTC", headers=server.headers("bob")).get_json()
    assert own["total"]["keys"] is None and own["days"][DAY]["clicks"] is None
    own_day = client.get(f"/api/me/diary?{query}", headers=server.headers("bob")).get_json()
    assert own_day["total"]["keys"] is None


def test_pages_show_a_dash_and_csv_an_empty_cell_for_uncounted_input(server: Server) -> None:
    mixed_day(server)
    admin = server.admin_browser("root")
    bob_page = admin.get(f"/admin/diary/bob/{DAY}?tz=UTC").get_data(as_text=True)
    assert 'id="day-keys">—</strong>' in bob_page and 'id="day-clicks">—</strong>' in bob_page
    assert "— keys, — clicks" in bob_page and "0 keys" not in bob_page
    ann_page = admin.get(f"/admin/diary/ann/{DAY}?tz=UTC").get_data(as_text=True)
    assert 'id="day-keys">30</strong>' in ann_page and 'id="day-clicks">6</strong>' in ann_page
    own_page = browser_of(server, "bob").get(f"/me/diary/{DAY}?tz=UTC").get_data(as_text=True)
    assert 'id="day-keys">—</strong>' in own_page

    slots = read_csv_rows(admin.get(f"/admin/diary/bob/{DAY}.csv?tz=UTC").get_data(as_text=True))
    busy = [row for row in slots if row["sample_minutes"] != "0"]
    assert len(busy) == 1 and busy[0]["activity_percent"] == "50"
    assert all(row[name] == "" for row in slots for name in COUNT_FIELDS)
    report = read_csv_rows(admin.get(f"/admin/report.csv?from={DAY}&to={DAY}&tz=UTC").get_data(as_text=True))
    by_user = {row["username"]: row for row in report}
    assert (by_user["bob"]["keys"], by_user["bob"]["clicks"]) == ("", "")
    assert (by_user["ann"]["keys"], by_user["ann"]["clicks"]) == ("30", "6")
    own_csv = browser_of(server, "bob").get(f"/me/report.csv?from={DAY}&to={DAY}&tz=UTC")
    assert [row["keys"] for row in read_csv_rows(own_csv.get_data(as_text=True))] == [""]


def test_the_export_leaves_uncounted_minutes_empty(server: Server) -> None:
    mixed_day(server)
    response = server.admin_browser("root").get("/admin/users/ann/export")
    assert response.status_code == 200
    data = response.get_data()
    response.close()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        minutes = list(csv.DictReader(io.StringIO(archive.read("minutes.csv").decode("utf-8"))))
    by_device = {(row["device_id"], row["minute_start"]): row for row in minutes}
    assert len(by_device) == 7
    laptop_rows = [row for (device, _), row in by_device.items() if device == WAYLAND_LAPTOP["id"]]
    desktop_rows = [row for (device, _), row in by_device.items() if device == DESKTOP["id"]]
    assert all(row[name] == "" for row in laptop_rows for name in COUNT_FIELDS) and len(laptop_rows) == 4
    assert all(row["keys"] == "10" for row in desktop_rows) and len(desktop_rows) == 3


# --------------------------------------------------------------------------- migration 0011
def test_migration_0011_keeps_counted_rows_takes_null_counts_and_downgrades_them_to_0(
    database_url: str,
) -> None:
    database = Database(database_url)
    try:
        with database.engine.begin() as connection:
            command.upgrade(database._alembic_config(connection), "0010")
        at = datetime(2026, 11, 25, 9, 0)  # naive UTC, as the 0010 schema's rows are written here
        users = sa.table("users", *(sa.column(name) for name in (
            "id", "username", "email", "password_hash", "is_admin", "is_enabled", "created_at")))
        devices = sa.table("devices", *(sa.column(name) for name in (
            "id", "user_id", "uid", "name", "first_seen_at", "last_seen_at")))
        with database.engine.begin() as connection:
            connection.execute(sa.insert(users), [{
                "id": 1, "username": "ann", "email": "ann@example.com", "password_hash": "-",
                "is_admin": False, "is_enabled": True, "created_at": at,
            }])
            connection.execute(sa.insert(devices), [{
                "id": 1, "user_id": 1, "uid": "default", "name": "default device", "first_seen_at": at,
                "last_seen_at": at,
            }])
            connection.execute(sa.insert(ActivitySample), [{
                "user_id": 1, "device_id": 1, "minute_start": DAY_START + timedelta(minutes=n),
                "active_seconds": 20, "keys": 7, "clicks": 1, "scrolls": 0, "mouse_px": 90,
                "state": "tracking", "timezone": "UTC", "utc_offset_minutes": 0, "received_at": NOW,
            } for n in range(3)])
        with database.session() as session:
            rollups.rebuild_rollup(session)

        database.migrate()

        inspector = inspect(database.engine)
        columns = {
            table: {column["name"]: column["nullable"] for column in inspector.get_columns(table)}
            for table in ("activity_samples", "activity_rollups")
        }
        assert all(columns[table][name] for table in columns for name in COUNT_FIELDS)
        assert not columns["activity_samples"]["active_seconds"]
        with database.session() as session:
            kept = session.execute(select(ActivitySample.keys, ActivitySample.mouse_px)).all()
            assert sorted(kept) == [(7, 90)] * 3
            assert session.scalars(select(ActivityRollup.keys)).one() == 21
            session.execute(sa.insert(ActivitySample), [{
                "user_id": 1, "device_id": 1, "minute_start": DAY_START + timedelta(minutes=30),
                "active_seconds": 20, **UNCOUNTED, "state": "tracking", "timezone": "UTC",
                "utc_offset_minutes": 0, "received_at": NOW,
            }])
        with database.session() as session:
            rows = session.execute(select(ActivitySample.minute_start, ActivitySample.keys)).all()
            assert sorted(keys is None for _, keys in rows) == [False, False, False, True]

        with database.engine.begin() as connection:  # and back: the older schema has no "not counted"
            command.downgrade(database._alembic_config(connection), "0010")
        old_columns = inspect(database.engine).get_columns("activity_samples")
        assert not any(column["nullable"] for column in old_columns if column["name"] in COUNT_FIELDS)
        with database.session() as session:
            downgraded = list(session.scalars(select(ActivitySample.keys)))
        assert None not in downgraded
        assert sorted(keys for keys in downgraded if keys is not None) == [0, 7, 7, 7]
    finally:
        database.dispose()
