"""The export zip of one person, opened and checked against the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from me_support import browser_of, post_minutes, sample, set_config, upload
from server_support import Server, ServerSetup
from sqlalchemy import select

from server.db.models import ActivitySample, AuthToken, Device, LoginChallenge, Screenshot

NOW = datetime(2026, 11, 20, 15, 0, 30, tzinfo=UTC)


@pytest.fixture
def server_setup() -> ServerSetup:
    """An admin (root) and two people (ann, bob), all signed in, at NOW."""
    return ServerSetup(users={"root": True, "ann": False, "bob": False}, signed_in=True, start=NOW)


def _rows(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8"))))


def _export(client: object, path: str) -> zipfile.ZipFile:
    response = client.get(path)  # type: ignore[attr-defined]
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "private, no-store"
    data = response.get_data()
    response.close()
    return zipfile.ZipFile(io.BytesIO(data))


def test_my_export_holds_my_minutes_screenshots_images_config_and_sign_ins_and_nothing_secret(
    server: Server,
) -> None:
    start = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    post_minutes(server, "ann", [sample(start + timedelta(minutes=n), active=n) for n in range(25)])
    post_minutes(server, "bob", [sample(start + timedelta(minutes=n)) for n in range(3)])
    shots = [upload(server, "ann", start + timedelta(minutes=n, seconds=7), colour=(n * 20, 80, 120))
             for n in range(3)]
    upload(server, "bob", start, colour=(250, 0, 0))
    set_config(server, {"screenshot_interval": 120, "employee_delete_window_minutes": 5}, username="ann")
    held_back = {"taken_at": "2026-11-20T14:59:00Z", "device_id": "b" * 32}
    client = server.app.test_client()
    assert client.post("/api/me/withheld", json=held_back, headers=server.headers("ann")).status_code == 204

    archive = _export(browser_of(server, "ann"), "/me/export")
    names = set(archive.namelist())
    assert {"account.json", "minutes.csv", "screenshots.csv", "deletions.csv", "devices.csv", "config.json",
            "config_changes.csv", "sign_in_history.csv"} <= names

    with server.context.database.session() as session:
        ann_id = session.scalar(select(Screenshot.user_id).where(Screenshot.id == shots[0]["id"]))
        samples = list(session.scalars(
            select(ActivitySample).where(ActivitySample.user_id == ann_id)
            .order_by(ActivitySample.minute_start)
        ))
        stored_shots = list(session.scalars(
            select(Screenshot).where(Screenshot.user_id == ann_id).order_by(Screenshot.taken_at)
        ))
        tokens = list(session.scalars(select(AuthToken).where(AuthToken.user_id == ann_id)))
        challenges = list(session.scalars(select(LoginChallenge).where(LoginChallenge.user_id == ann_id)))
        device_uids = list(session.scalars(select(Device.uid).where(Device.user_id == ann_id)))

    minutes = _rows(archive, "minutes.csv")
    exported = [
        (row["minute_start"], int(row["active_seconds"]), int(row["keys"]), row["state"]) for row in minutes
    ]
    assert exported == [(s.minute_start.isoformat(), s.active_seconds, s.keys, s.state) for s in samples]
    assert len(minutes) == 25 and {row["device_id"] for row in minutes} == set(device_uids)

    listed = _rows(archive, "screenshots.csv")
    assert [(int(row["id"]), row["key"], row["sha256"]) for row in listed] == [
        (shot.id, shot.key, shot.sha256) for shot in stored_shots
    ]
    for row in listed:
        image = archive.read(row["file"])
        assert hashlib.sha256(image).hexdigest() == row["sha256"]
    assert not any("bob/" in name for name in names)
    images = [name for name in names if name.startswith("screenshots/")]
    assert len(images) == 3 and not any(name.endswith(".thumb.jpg") for name in images)

    config = json.loads(archive.read("config.json"))
    assert config["overrides"] == {"screenshot_interval": 120, "employee_delete_window_minutes": 5}
    assert config["effective"]["screenshot_interval"] == 120
    changes = _rows(archive, "config_changes.csv")
    assert {row["key"] for row in changes} == {"screenshot_interval", "employee_delete_window_minutes"}
    assert {row["actor"] for row in changes} == {"root"}
    [deletion] = _rows(archive, "deletions.csv")
    assert (deletion["kind"], deletion["by"], deletion["key"], deletion["device_id"]) == (
        "withheld", "ann", "", "b" * 32
    )
    account = json.loads(archive.read("account.json"))
    assert (account["username"], account["email"], account["is_admin"]) == ("ann", "ann@example.com", False)

    history = _rows(archive, "sign_in_history.csv")
    assert sum(row["kind"] == "token" for row in history) == len(tokens) >= 1
    assert sum(row["kind"] == "sign-in code" for row in history) == len(challenges) >= 1
    everything = b"".join(archive.read(name) for name in names if not name.startswith("screenshots/"))
    for secret in [token.token_hash for token in tokens] + [c.code_hash for c in challenges] \
            + [c.id for c in challenges] + [server.tokens["ann"]]:
        assert secret.encode() not in everything
    assert b"password" not in everything.lower()


def test_an_admin_exports_any_person_and_a_person_only_themselves(server: Server) -> None:
    upload(server, "bob", NOW - timedelta(minutes=3))
    admin_zip = _export(server.admin_browser("root"), "/admin/users/bob/export")
    own_zip = _export(browser_of(server, "bob"), "/me/export")
    assert _rows(admin_zip, "screenshots.csv") == _rows(own_zip, "screenshots.csv")
    assert len(_rows(own_zip, "screenshots.csv")) == 1
    ann_zip = _export(browser_of(server, "ann"), "/me/export")
    assert _rows(ann_zip, "screenshots.csv") == [] and _rows(ann_zip, "minutes.csv") == []
    assert browser_of(server, "ann").get("/admin/users/bob/export").status_code == 403
    assert server.admin_browser("root").get("/admin/users/nobody/export").status_code == 404
    assert server.app.test_client().get("/me/export").status_code == 302
