"""A person's own record through Flask, on SQLite and PostgreSQL: /api/me JSON, deleting and holding back
captures (204 / 403 / 404 by the delete window), and that nobody reaches a colleague's data."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from me_support import browser_of, csrf_of, post_minutes, sample, set_config, upload
from server_support import Server, ServerSetup, read_csv_rows

from server.db.models import ActivitySample, Screenshot, ScreenshotDeletion
from server.my_record import Policy
from server.stores.thumbnails import thumbnail_bytes, thumbnail_key

NOW = datetime(2026, 11, 20, 15, 0, 30, tzinfo=UTC)
DAY = "2026-11-20"
TAKEN = datetime(2026, 11, 20, 14, 55, 3, tzinfo=UTC)


@pytest.fixture
def server_setup() -> ServerSetup:
    """An admin (root) and two people (ann, bob), all signed in, at NOW."""
    return ServerSetup(users={"root": True, "ann": False, "bob": False}, signed_in=True, start=NOW)


def _error_code(response: object) -> str:
    body = response.get_json()  # type: ignore[attr-defined]
    assert isinstance(body, dict)
    return str(body["error"]["code"])


def _deletions(server: Server) -> list[ScreenshotDeletion]:
    with server.context.database.session() as session:
        rows = list(session.query(ScreenshotDeletion).order_by(ScreenshotDeletion.id))
        session.expunge_all()
        return rows


def test_my_diary_has_the_admin_shape_and_only_my_minutes_and_captures(server: Server) -> None:
    start = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    post_minutes(server, "ann", [sample(start + timedelta(minutes=n), active=40) for n in range(30)])
    post_minutes(server, "bob", [sample(start + timedelta(minutes=n), active=10) for n in range(5)])
    mine = upload(server, "ann", TAKEN)
    theirs = upload(server, "bob", TAKEN + timedelta(seconds=1), colour=(200, 10, 10))
    assert isinstance(mine["id"], int) and mine["id"] != theirs["id"]

    client = server.app.test_client()
    own = client.get(f"/api/me/diary?date={DAY}&tz=UTC", headers=server.headers("ann")).get_json()
    admin = client.get(
        f"/api/reports/diary?username=ann&date={DAY}&tz=UTC", headers=server.headers("root")
    ).get_json()
    assert set(own) == set(admin)
    assert own["total"] == admin["total"] and own["total"]["tracked_seconds"] == 30 * 60
    assert [slot["screenshots"] for slot in own["slots"]] == [slot["screenshots"] for slot in admin["slots"]]
    assert [shot for slot in own["slots"] for shot in slot["screenshots"]] == [mine["id"]]
    bobs = client.get(f"/api/me/diary?date={DAY}&tz=UTC", headers=server.headers("bob")).get_json()
    assert bobs["username"] == "bob" and bobs["total"]["tracked_seconds"] == 5 * 60
    assert [shot for slot in bobs["slots"] for shot in slot["screenshots"]] == [theirs["id"]]
    # No parameter names another person: a username in the query is ignored.
    other = client.get(f"/api/me/diary?date={DAY}&username=bob", headers=server.headers("ann")).get_json()
    assert other["username"] == "ann"
    assert client.get("/api/me/diary").status_code == 401
    bad = client.get("/api/me/diary?date=20-11-2026", headers=server.headers("ann"))
    assert bad.status_code == 400 and "date" in bad.get_json()["error"]["fields"]


def test_my_screenshots_come_with_id_and_a_short_lived_link_and_never_a_colleagues(server: Server) -> None:
    mine = upload(server, "ann", TAKEN)
    upload(server, "bob", TAKEN, colour=(200, 10, 10))
    client = server.app.test_client()
    answer = client.get(f"/api/me/screenshots?date={DAY}&tz=UTC", headers=server.headers("ann")).get_json()
    [shot] = answer["screenshots"]
    assert (shot["id"], shot["key"], shot["taken_at"]) == (mine["id"], mine["key"], TAKEN.isoformat())
    assert answer["delete_window_minutes"] == 0 and shot["deletable"] is False
    assert shot["deletable_until"] is None
    with client.get(shot["url"]) as link:
        assert link.status_code == 200 and link.data[:2] == b"\xff\xd8"
    server.clock.advance(seconds=301)  # the link expires after 5 minutes
    with client.get(shot["url"]) as expired:
        assert expired.status_code == 403
    assert "ann/" in shot["key"] and all(
        "bob/" not in item["key"] for item in answer["screenshots"]
    )


def test_deleting_my_screenshot_within_the_window_removes_image_and_thumbnail_and_keeps_minutes(
    server: Server,
) -> None:
    set_config(server, {"employee_delete_window_minutes": 10})
    start = datetime(2026, 11, 20, 14, 50, tzinfo=UTC)
    post_minutes(server, "ann", [sample(start + timedelta(minutes=n)) for n in range(10)])
    shot = upload(server, "ann", TAKEN)
    store = server.context.object_store
    assert store.object_size(shot["key"]) is not None
    assert thumbnail_bytes(store, shot["key"]) is not None  # the first view makes it
    client = server.app.test_client()
    before = client.get(f"/api/me/report?from={DAY}&to={DAY}", headers=server.headers("ann")).get_json()

    deleted = client.delete(f"/api/me/screenshots/{shot['id']}", headers=server.headers("ann"))
    assert deleted.status_code == 204 and deleted.data == b""
    assert store.object_size(shot["key"]) is None
    assert store.read_bytes(thumbnail_key(shot["key"])) is None
    with server.context.database.session() as session:
        assert session.get(Screenshot, shot["id"]) is None
        assert session.query(ActivitySample).count() == 10
    [entry] = _deletions(server)
    assert (entry.kind, entry.actor, entry.username, entry.key, entry.taken_at) == (
        "owner", "ann", "ann", shot["key"], TAKEN
    )
    after = client.get(f"/api/me/report?from={DAY}&to={DAY}", headers=server.headers("ann")).get_json()
    assert after == before  # the activity minutes stay
    diary = client.get(f"/api/me/diary?date={DAY}&tz=UTC", headers=server.headers("ann")).get_json()
    [slot] = [slot for slot in diary["slots"] if slot["deleted"]]
    assert slot["start"] == "2026-11-20T14:50:00+00:00" and slot["screenshots"] == []
    assert slot["deleted"][0]["by"] == "ann" and slot["deleted"][0]["kind"] == "owner"
    log = server.admin_browser("root").get("/admin/deletions").get_data(as_text=True)
    assert "deleted by the person" in log and shot["key"] in log
    admin_day = server.admin_browser("root").get(f"/admin/diary/ann/{DAY}?tz=UTC").get_data(as_text=True)
    slot_html = admin_day.split('data-slot="2026-11-20T14:50:00+00:00"', 1)[1].split('class="slot ', 1)[0]
    assert '<p class="deleted-capture">Deleted by ann</p>' in slot_html  # in its own slot, not below the day
    again = client.delete(f"/api/me/screenshots/{shot['id']}", headers=server.headers("ann"))
    assert again.status_code == 404 and _error_code(again) == "not_found"


def test_deleting_is_refused_outside_the_window_with_the_setting_at_0_and_for_a_colleagues_id(
    server: Server,
) -> None:
    shot = upload(server, "ann", TAKEN)
    client = server.app.test_client()
    path = f"/api/me/screenshots/{shot['id']}"

    refused = client.delete(path, headers=server.headers("ann"))  # the default: 0 = never
    assert refused.status_code == 403 and _error_code(refused) == "delete_not_allowed"

    set_config(server, {"employee_delete_window_minutes": 10})
    colleague = client.delete(path, headers=server.headers("bob"))
    assert colleague.status_code == 404 and _error_code(colleague) == "not_found"
    unknown = client.delete("/api/me/screenshots/999999", headers=server.headers("ann"))
    assert unknown.status_code == 404
    assert client.delete(path).status_code == 401

    server.clock.set(TAKEN + timedelta(minutes=10, seconds=1))
    late = client.delete(path, headers=server.headers("ann"))
    assert late.status_code == 403 and _error_code(late) == "delete_not_allowed"
    assert "10 minutes" in late.get_json()["error"]["message"]
    assert server.context.object_store.object_size(shot["key"]) is not None
    assert _deletions(server) == []

    # A per-person override wins over the organisation's setting.
    set_config(server, {"employee_delete_window_minutes": 60}, username="ann")
    assert client.delete(path, headers=server.headers("ann")).status_code == 204


def test_a_capture_held_back_on_the_device_is_recorded_once_and_shown(server: Server) -> None:
    client = server.app.test_client()
    body = {"taken_at": "2026-11-20T15:55:00+01:00", "device_id": "a" * 32}
    for _ in range(2):  # the agent retried: still one entry
        answer = client.post("/api/me/withheld", json=body, headers=server.headers("ann"))
        assert answer.status_code == 204
    [entry] = _deletions(server)
    assert (entry.kind, entry.actor, entry.key, entry.device_uid) == ("withheld", "ann", None, "a" * 32)
    assert entry.taken_at == datetime(2026, 11, 20, 14, 55, tzinfo=UTC)
    default = client.post("/api/me/withheld", json={"taken_at": "2026-11-20T14:56:00Z"},
                          headers=server.headers("ann"))
    assert default.status_code == 204 and _deletions(server)[-1].device_uid == "default"

    for bad, field in (
        ({"taken_at": "2026-11-20T14:55:00"}, "taken_at"),
        ({"taken_at": "yesterday"}, "taken_at"),
        ({"taken_at": "2026-11-20T15:30:00Z"}, "taken_at"),  # 30 minutes in the future
        ({"taken_at": "2026-10-01T10:00:00Z"}, "taken_at"),  # older than 30 days
        ({"taken_at": "2026-11-20T14:55:00Z", "device_id": "ABC"}, "device_id"),
        ({"taken_at": "2026-11-20T14:55:00Z", "key": "x"}, "key"),
    ):
        refused = client.post("/api/me/withheld", json=bad, headers=server.headers("ann"))
        assert refused.status_code == 400, bad
        assert field in refused.get_json()["error"]["fields"], bad
    assert client.post("/api/me/withheld", json=body).status_code == 401

    diary = client.get(f"/api/me/diary?date={DAY}&tz=UTC", headers=server.headers("ann")).get_json()
    kinds = [entry["kind"] for slot in diary["slots"] for entry in slot["deleted"]]
    assert kinds == ["withheld", "withheld"]
    page = browser_of(server, "ann").get(f"/me/diary/{DAY}?tz=UTC").get_data(as_text=True)
    assert "Held back on the device by ann" in page
    log = server.admin_browser("root").get("/admin/deletions").get_data(as_text=True)
    assert "held back on the device" in log and "never uploaded" in log
    bobs = client.get(f"/api/me/diary?date={DAY}&tz=UTC", headers=server.headers("bob")).get_json()
    assert all(not slot["deleted"] for slot in bobs["slots"])


def test_my_report_json_and_csv_match_the_admins_numbers(server: Server) -> None:
    start = datetime(2026, 11, 19, 9, 0, tzinfo=UTC)
    post_minutes(server, "ann", [sample(start + timedelta(minutes=n), active=n % 60) for n in range(45)])
    post_minutes(server, "ann", [sample(start + timedelta(days=1, minutes=n), "idle") for n in range(7)])
    post_minutes(server, "bob", [sample(start + timedelta(minutes=n)) for n in range(3)])
    client = server.app.test_client()
    query = "from=2026-11-19&to=2026-11-20&tz=UTC"
    own = client.get(f"/api/me/report?{query}", headers=server.headers("ann")).get_json()
    admin = client.get(f"/api/reports/days?{query}", headers=server.headers("root")).get_json()
    [ann_row] = [user for user in admin["users"] if user["username"] == "ann"]
    assert own["days"] == ann_row["days"] and own["total"] == ann_row["total"]
    assert own["days"]["2026-11-19"]["tracked_seconds"] == 45 * 60
    assert own["days"]["2026-11-20"]["idle_minutes"] == 7
    csv_text = browser_of(server, "ann").get(f"/me/report.csv?{query}").get_data(as_text=True)
    rows = read_csv_rows(csv_text)
    assert {row["user"] if "user" in row else row["username"] for row in rows} == {"ann"}
    assert len(rows) == 2
    bad = client.get("/api/me/report?from=2026-11-20&to=2026-11-19", headers=server.headers("ann"))
    assert bad.status_code == 400 and "to" in bad.get_json()["error"]["fields"]


def test_the_me_pages_show_only_my_record_and_the_policy_in_plain_words(server: Server) -> None:
    set_config(server, {"employee_delete_window_minutes": 15})
    mine = upload(server, "ann", TAKEN)
    theirs = upload(server, "bob", TAKEN, colour=(200, 10, 10))
    set_config(server, {"upload_delay_seconds": 120}, username="ann")
    policy = server.app.test_client().get("/api/me/policy", headers=server.headers("ann")).get_json()
    assert (policy["delete_window_minutes"], policy["upload_delay_seconds"]) == (15, 120)
    assert (policy["screenshot_retention_days"], policy["activity_retention_days"]) == (180, 730)
    assert policy["delete_text"] == "You can delete a screenshot for 15 minutes after it is taken."
    bobs = server.app.test_client().get("/api/me/policy", headers=server.headers("bob")).get_json()
    assert bobs["upload_delay_seconds"] == 0
    ann = browser_of(server, "ann")
    for path in ("/me", f"/me/diary/{DAY}", f"/me/screenshots?date={DAY}", "/me/report", "/me/devices"):
        page = ann.get(path)
        assert page.status_code == 200, path
        html = page.get_data(as_text=True)
        assert "You can delete a screenshot for 15 minutes after it is taken." in html, path
        assert "Screenshots are kept for 180 days; activity minutes for 730 days." in html, path
    shots = ann.get(f"/me/screenshots?date={DAY}&tz=UTC").get_data(as_text=True)
    assert re.findall(r'data-screenshot-id="(\d+)"', shots) == [str(mine["id"])]
    assert ann.get(f"/me/screenshots/{mine['id']}/thumbnail").status_code == 200
    assert ann.get(f"/me/screenshots/{mine['id']}/image").status_code == 302
    for path in (f"/me/screenshots/{theirs['id']}/thumbnail", f"/me/screenshots/{theirs['id']}/image"):
        assert ann.get(path).status_code == 404, path
    token = csrf_of(shots)
    assert ann.post(f"/me/screenshots/{theirs['id']}/delete", data={"csrf_token": token}).status_code == 404
    assert ann.post(f"/me/screenshots/{mine['id']}/delete", data={}).status_code == 400  # no CSRF token
    deleted = ann.post(f"/me/screenshots/{mine['id']}/delete",
                       data={"csrf_token": token, "next": f"/me/screenshots?date={DAY}"})
    assert deleted.status_code == 302 and deleted.headers["Location"] == f"/me/screenshots?date={DAY}"
    assert server.context.object_store.object_size(mine["key"]) is None
    assert server.context.object_store.object_size(theirs["key"]) is not None
    assert "Deleted by ann" in ann.get(f"/me/screenshots?date={DAY}&tz=UTC").get_data(as_text=True)
    # A person who is not an admin still gets 403 on the admin pages, and a stranger the sign-in page.
    assert ann.get("/admin/").status_code == 403
    assert ann.get("/admin/users/bob/export").status_code == 403
    anonymous = server.app.test_client().get("/me")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].endswith("/admin/login")


def test_a_person_who_is_not_an_admin_signs_in_and_lands_on_me(server: Server) -> None:
    client = server.app.test_client()
    token = csrf_of(client.get("/admin/login").get_data(as_text=True))
    client.post("/admin/login", data={"username": "ann", "password": server.password, "csrf_token": token})
    code = server.code_for("ann@example.com")
    answer = client.post("/admin/verify", data={"code": code, "csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/me")
    page = client.get("/me")
    assert page.status_code == 200 and "My diary" in page.get_data(as_text=True)
    assert "Sign out ann" in page.get_data(as_text=True)


def test_the_admin_pages_show_the_retention_in_force(server: Server) -> None:
    html = server.admin_browser("root").get("/admin/").get_data(as_text=True)
    assert "Retention in force: Screenshots are kept for 180 days; activity minutes for 730 days." in html
    assert 'id="nav-my-record"' in html


def test_two_deletes_of_one_screenshot_at_once_delete_it_once(server: Server) -> None:
    set_config(server, {"employee_delete_window_minutes": 10})
    shot = upload(server, "ann", TAKEN)
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def delete_it() -> None:
        client = server.app.test_client()
        barrier.wait(5)
        answer = client.delete(f"/api/me/screenshots/{shot['id']}", headers=server.headers("ann"))
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=delete_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [204, 404]
    assert [entry.kind for entry in _deletions(server)] == ["owner"]


def test_the_policy_reads_in_plain_words() -> None:
    def words(minutes: int, screenshot_days: int = 180, activity_days: int = 730) -> str:
        policy = Policy(minutes, 0, screenshot_days, activity_days)
        return f"{policy.delete_text} {policy.retention_text}"

    assert words(0).startswith("You cannot delete your screenshots")
    assert "for 1 minute after" in words(1) and "for 90 minutes after" in words(90)
    assert "for 1 hour after" in words(60) and "for 2 days after" in words(2880)
    assert words(10, 0, 1).endswith("Screenshots are kept forever; activity minutes for 1 day.")
    policy = Policy(10, 0, 180, 730)
    assert policy.may_delete(TAKEN, TAKEN + timedelta(minutes=10))
    assert not policy.may_delete(TAKEN, TAKEN + timedelta(minutes=10, microseconds=1))
    assert not Policy(0, 0, 180, 730).may_delete(TAKEN, TAKEN)
