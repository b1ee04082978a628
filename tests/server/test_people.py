"""People through the API and the People page: invite, resend, disable / enable, admin, email, delete."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from people_support import link_in, mails_to, path_of, wait_for_link
from server_support import Server, ServerSetup, bearer, latest_code, sign_in
from sqlalchemy import func, select

from contract.errors import RequestRefused
from server import people
from server.db.models import ActivitySample, AuthToken, Device, Screenshot, User, WebSession
from server.db.people_audit import PeopleAuditEntry
from server.stores.thumbnails import thumbnail_key

PASSWORD = "people password 1"
# Tests about the pages and mails run on SQLite only; those about the database's rules run on both.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
NEW_PASSWORD = "a brand new password"


@pytest.fixture
def server_setup() -> ServerSetup:
    """Two admins (root, boss) and a member (bob), all signed in."""
    return ServerSetup(users={"root": True, "boss": True, "bob": False}, signed_in=True, password=PASSWORD)


def _post(server: Server, path: str, body: dict[str, Any], user: str = "root") -> Any:
    return server.client.post(path, json=body, headers=server.headers(user))


def _patch(server: Server, username: str, body: dict[str, Any], user: str = "root") -> Any:
    return server.client.patch(f"/api/users/{username}", json=body, headers=server.headers(user))


def _user(server: Server, username: str) -> dict[str, Any]:
    answer = server.client.get(f"/api/users/{username}", headers=server.headers("root"))
    assert answer.status_code == 200, answer.get_json()
    user: dict[str, Any] = answer.get_json()["user"]
    return user


def _invite(server: Server, username: str = "ann", is_admin: bool = False) -> str:
    answer = _post(server, "/api/users", {"username": username, "email": f"{username}@example.com",
                                          "is_admin": is_admin})
    assert answer.status_code == 201, answer.get_json()
    return path_of(wait_for_link(server.data_dir, f"{username}@example.com", "welcome"))


def _csrf(client: Any, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200
    text: str = page.get_data(as_text=True)
    marker = 'name="csrf_token" value="'
    return text.split(marker, 1)[1].split('"', 1)[0]


def _choose_password(server: Server, path: str, password: str) -> Any:
    client = server.app.test_client()
    token = _csrf(client, path)
    return client.post(path, data={"csrf_token": token, "password": password, "password_again": password})


# --------------------------------------------------------------------------- invitations
@SQLITE_ONLY
def test_an_invitation_mails_a_one_time_link_that_sets_the_password(server: Server) -> None:
    path = _invite(server)
    invited = _user(server, "ann")
    assert invited["status"] == "invited" and invited["is_admin"] is False
    assert invited["invitation_expires_at"] == (server.clock() + timedelta(hours=48)).isoformat()
    # Opening the page twice uses nothing; a refused password keeps the link.
    assert server.app.test_client().get(path).status_code == 200
    refused = _choose_password(server, path, "password1")
    assert refused.status_code == 400 and "most common passwords" in refused.get_data(as_text=True)
    too_short = _choose_password(server, path, "short")
    assert too_short.status_code == 400 and "at least 8 characters" in too_short.get_data(as_text=True)
    assert _choose_password(server, path, "ann").status_code == 400
    client = server.app.test_client()
    form = {"csrf_token": _csrf(client, path), "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    chosen = client.post(path, data=form)
    assert chosen.status_code == 200 and "Your password is set" in chosen.get_data(as_text=True)
    again = form | {"password": "x" * 20, "password_again": "x" * 20}
    assert client.post(path, data=again).status_code == 410
    assert client.get(path).status_code == 410
    assert _user(server, "ann")["status"] == "active"
    token = sign_in(server.client, "ann", NEW_PASSWORD, lambda: server.code_for("ann@example.com"))
    assert server.client.get("/auth/me", headers=bearer(token)).get_json()["username"] == "ann"


@SQLITE_ONLY
def test_an_invited_account_cannot_sign_in_before_choosing_a_password(server: Server) -> None:
    _invite(server)
    answer = server.client.post("/auth/login", json={"username": "ann", "password": ""})
    assert answer.status_code == 401


@SQLITE_ONLY
def test_inviting_names_the_bad_field_and_a_taken_username_before_anything_else(server: Server) -> None:
    missing = _post(server, "/api/users", {"email": "x@example.com"})
    assert missing.status_code == 400 and "username" in missing.get_json()["error"]["fields"]
    bad = _post(server, "/api/users", {"username": "-no", "email": "not an address"})
    assert bad.status_code == 400 and set(bad.get_json()["error"]["fields"]) == {"username", "email"}
    flag = _post(server, "/api/users", {"username": "ann", "email": "ann@example.com", "is_admin": "yes"})
    assert flag.status_code == 400 and "is_admin" in flag.get_json()["error"]["fields"]
    for taken in ("bob", "BOB"):
        answer = _post(server, "/api/users", {"username": taken, "email": "not an address"})
        assert answer.status_code == 409
        error = answer.get_json()["error"]
        assert error["code"] == "username_taken" and "username" in error["fields"]
    by_member = _post(server, "/api/users", {"username": "ann", "email": "ann@example.com"}, "bob")
    assert by_member.status_code == 403
    with server.context.database.session() as session:
        assert session.scalar(select(func.count(User.id))) == 3


@SQLITE_ONLY
def test_an_invitation_lasts_48_hours_and_a_resend_replaces_it(server: Server) -> None:
    first = _invite(server)
    server.clock.advance(hours=47)
    assert server.app.test_client().get(first).status_code == 200
    resent = _post(server, "/api/users/ann/invitation", {})
    assert resent.status_code == 200
    second = path_of(wait_for_link(server.data_dir, "ann@example.com", "welcome", count=2))
    assert second != first
    assert server.app.test_client().get(first).status_code == 410
    server.clock.advance(hours=48, seconds=1)
    assert server.app.test_client().get(second).status_code == 410
    assert _user(server, "ann")["invitation_expires_at"] is None
    again = _post(server, "/api/users/ann/invitation", {})
    assert again.status_code == 200
    third = path_of(wait_for_link(server.data_dir, "ann@example.com", "welcome", count=3))
    assert _choose_password(server, third, NEW_PASSWORD).status_code == 200
    assert _post(server, "/api/users/ann/invitation", {}).get_json()["error"]["code"] == "not_invited"


# --------------------------------------------------------------------------- enable, disable, admin
def test_disabling_ends_tokens_and_web_sessions_and_enabling_revives_none(server: Server) -> None:
    browser = server.admin_browser("boss")
    assert browser.get("/admin/users").status_code == 200
    assert server.client.get("/auth/me", headers=server.headers("boss")).status_code == 200
    assert _patch(server, "boss", {"is_enabled": False}).get_json()["user"]["status"] == "disabled"
    assert server.client.get("/auth/me", headers=server.headers("boss")).status_code == 401
    assert browser.get("/admin/users").status_code == 302
    with server.context.database.session() as session:
        boss_id = session.scalar(select(User.id).where(User.username == "boss"))
        sessions = select(func.count()).select_from(WebSession).where(WebSession.user_id == boss_id)
        assert session.scalar(sessions) == 0
        assert session.scalar(select(func.count(AuthToken.id)).where(
            AuthToken.user_id == boss_id, AuthToken.revoked_at.is_(None))) == 0
    assert _patch(server, "boss", {"is_enabled": True}).get_json()["user"]["status"] == "active"
    assert server.client.get("/auth/me", headers=server.headers("boss")).status_code == 401
    assert browser.get("/admin/users").status_code == 302
    assert server.sign_in("boss")  # signs in anew


@SQLITE_ONLY
def test_disabling_an_invited_person_kills_their_invitation_link(server: Server) -> None:
    path = _invite(server)
    assert _patch(server, "ann", {"is_enabled": False}).status_code == 200
    assert server.app.test_client().get(path).status_code == 410


def test_the_last_enabled_admin_can_never_be_demoted_disabled_or_deleted(server: Server) -> None:
    assert _patch(server, "boss", {"is_admin": False}).status_code == 200
    for change in ({"is_admin": False}, {"is_enabled": False}):
        refused = _patch(server, "root", change)
        assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "last_admin"
    deleted = server.client.delete("/api/users/root?confirm=root", headers=server.headers("root"))
    assert deleted.status_code == 409 and deleted.get_json()["error"]["code"] == "last_admin"
    # A disabled administrator does not count.
    assert _patch(server, "boss", {"is_admin": True}).status_code == 200
    assert _patch(server, "boss", {"is_enabled": False}).status_code == 200
    assert _patch(server, "root", {"is_admin": False}).status_code == 409
    assert _patch(server, "boss", {"is_admin": False}).status_code == 200  # a disabled admin may be demoted
    assert _user(server, "root")["is_admin"] is True


def test_two_admins_demoting_each_other_at_once_leave_one_admin(server: Server) -> None:
    for _round in range(4):
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def demote(
            username: str, barrier: threading.Barrier = barrier, outcomes: list[str] = outcomes
        ) -> None:
            barrier.wait(5)
            try:
                people.set_admin(server.context, "test", username, False)
                outcomes.append("demoted")
            except RequestRefused as exc:
                outcomes.append(exc.code)

        threads = [threading.Thread(target=demote, args=(name,)) for name in ("root", "boss")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(outcomes) == ["demoted", "last_admin"]
        with server.context.database.session() as session:
            admins = list(session.scalars(select(User.username).where(User.is_admin, User.is_enabled)))
        assert len(admins) == 1
        people.set_admin(server.context, "test", "boss" if admins == ["root"] else "root", True)


@SQLITE_ONLY
def test_changes_name_their_field_and_unknown_people_are_404(server: Server) -> None:
    unknown = _patch(server, "bob", {"password": "x", "is_admin": "yes", "email": 3})
    assert set(unknown.get_json()["error"]["fields"]) == {"password", "is_admin", "email"}
    assert _patch(server, "bob", {}).status_code == 400
    assert _patch(server, "nobody", {"is_admin": True}).status_code == 404
    assert _patch(server, "bob", {"is_admin": True}, user="bob").status_code == 403
    assert _patch(server, "bob", {"email": "not an address"}).get_json()["error"]["fields"] == {
        "email": "must be an email address"}


@SQLITE_ONLY
def test_admin_rights_are_granted_and_revoked_and_audited(server: Server) -> None:
    assert _patch(server, "bob", {"is_admin": True}).get_json()["user"]["is_admin"] is True
    assert server.client.get("/api/users", headers=server.headers("bob")).status_code == 200
    assert _patch(server, "bob", {"is_admin": False}).get_json()["user"]["is_admin"] is False
    assert server.client.get("/api/users", headers=server.headers("bob")).status_code == 403
    with server.context.database.session() as session:
        actions = list(session.scalars(select(PeopleAuditEntry.action).order_by(PeopleAuditEntry.id)))
    assert actions == ["made admin", "admin revoked"]


# --------------------------------------------------------------------------- email
@SQLITE_ONLY
def test_a_new_email_address_takes_effect_once_confirmed_through_a_link_mailed_there(server: Server) -> None:
    answer = _patch(server, "bob", {"email": "bob@new.example"})
    assert answer.status_code == 200 and answer.get_json()["user"]["pending_email"] == "bob@new.example"
    assert _user(server, "bob")["email"] == "bob@example.com"
    path = path_of(wait_for_link(server.data_dir, "bob@new.example", "confirm-email"))
    notices = [subject for subject, _text in mails_to(server.data_dir, "bob@example.com")]
    assert "Your Vinova email address is being changed" in notices
    client = server.app.test_client()
    token = _csrf(client, path)
    assert client.post(path, data={"csrf_token": token}).status_code == 200
    assert _user(server, "bob")["email"] == "bob@new.example"
    assert client.post(path, data={"csrf_token": token}).status_code == 410
    server.client.post("/auth/login", json={"username": "bob", "password": PASSWORD})
    assert latest_code(server.data_dir, "bob@new.example")


# --------------------------------------------------------------------------- delete
def _give_data(server: Server, username: str, count: int) -> list[str]:
    context = server.context
    now = server.clock()
    keys = []
    with context.database.session() as session:
        user_id = session.scalar(select(User.id).where(User.username == username))
        device = Device(user_id=user_id, uid="d" * 32, name="laptop", first_seen_at=now, last_seen_at=now)
        session.add(device)
        session.flush()
        for index in range(count):
            key = f"{username}/2026/12/02/10000{index}Z-{index:064x}.jpg"
            keys.append(key)
            session.add(Screenshot(
                user_id=user_id, device_id=device.id, key=key, taken_at=now, timezone="UTC", blurred=False,
                width=10, height=10, size_bytes=3, sha256="0" * 64, uploaded_at=now))
            session.add(ActivitySample(
                user_id=user_id, device_id=device.id,
                minute_start=now.replace(second=0) - timedelta(minutes=index),
                active_seconds=60, keys=1, clicks=1, scrolls=0, mouse_px=5, state="tracking", timezone="UTC",
                utc_offset_minutes=0, received_at=now))
    for key in keys:
        context.object_store.write_bytes(key, b"jpg", content_type="image/jpeg")
        context.object_store.write_bytes(thumbnail_key(key), b"thumb", content_type="image/jpeg")
    return keys


def test_deleting_a_person_needs_their_name_typed_and_removes_their_data_and_files(server: Server) -> None:
    keys = _give_data(server, "bob", 3)
    kept = _give_data(server, "boss", 1)
    listed = _user(server, "bob")
    assert listed["devices"] == ["laptop"] and listed["last_seen_at"] == server.clock().isoformat()
    wrong = server.client.delete("/api/users/bob", json={"confirm": "Bob"}, headers=server.headers("root"))
    assert wrong.status_code == 400 and "confirm" in wrong.get_json()["error"]["fields"]
    assert server.client.delete("/api/users/bob", headers=server.headers("root")).status_code == 400
    deleted = server.client.delete("/api/users/bob", json={"confirm": "bob"}, headers=server.headers("root"))
    assert deleted.status_code == 200
    assert deleted.get_json() == {"deleted": "bob", "screenshots_deleted": 3}
    store = server.context.object_store
    assert all(store.read_bytes(key) is None and store.read_bytes(thumbnail_key(key)) is None for key in keys)
    assert store.read_bytes(kept[0]) == b"jpg"
    with server.context.database.session() as session:
        assert session.scalar(select(func.count(Screenshot.id))) == 1
        assert session.scalar(select(func.count(ActivitySample.id))) == 1
        assert session.scalar(select(func.count(Device.id))) == 1
        entry = session.scalars(select(PeopleAuditEntry).where(PeopleAuditEntry.action == "deleted")).one()
    assert (entry.actor, entry.username, entry.detail) == ("root", "bob", "3 screenshots, 1 devices")
    assert server.client.get("/auth/me", headers=server.headers("bob")).status_code == 401
    assert server.client.get("/api/users/bob", headers=server.headers("root")).status_code == 404


# --------------------------------------------------------------------------- the People page
@SQLITE_ONLY
def test_the_people_page_lists_everyone_and_its_buttons_change_them(server: Server) -> None:
    browser = server.admin_browser("root")
    page = browser.get("/admin/users").get_data(as_text=True)
    for name in ("root", "boss", "bob"):
        assert f'id="person-{name}"' in page
    assert "Email code" in page and "Member" in page
    token = _csrf(browser, "/admin/users")
    invited = browser.post("/admin/users", data={"csrf_token": token, "username": "ann",
                                                 "email": "ann@example.com", "is_admin": "on"})
    assert invited.status_code == 302
    assert _user(server, "ann")["is_admin"] is True
    assert link_in(mails_to(server.data_dir, "ann@example.com")[-1][1], "welcome")
    taken = browser.post(
        "/admin/users", data={"csrf_token": token, "username": "bob", "email": "b@example.com"}
    )
    assert taken.status_code == 409 and "already taken" in taken.get_data(as_text=True)
    assert browser.post("/admin/users/bob/disable", data={"csrf_token": token}).status_code == 302
    assert _user(server, "bob")["status"] == "disabled"
    assert browser.post("/admin/users/bob/disable", data={}).status_code == 400  # no CSRF token
    browser.post("/admin/users/boss/revoke-admin", data={"csrf_token": token})
    browser.post("/admin/users/ann/revoke-admin", data={"csrf_token": token})
    last = browser.post("/admin/users/root/revoke-admin", data={"csrf_token": token})
    assert last.status_code == 409 and "last enabled administrator" in last.get_data(as_text=True)
    settings_page = browser.get("/admin/users/bob").get_data(as_text=True)
    assert 'id="delete-person"' in settings_page and 'id="change-email"' in settings_page
    not_typed = browser.post("/admin/users/bob/delete", data={"csrf_token": token, "confirm": "bo"})
    assert not_typed.status_code == 302 and _user(server, "bob")
    typed = browser.post("/admin/users/bob/delete", data={"csrf_token": token, "confirm": "bob"})
    assert typed.status_code == 302
    assert server.client.get("/api/users/bob", headers=server.headers("root")).status_code == 404


@SQLITE_ONLY
def test_a_store_that_fails_leaves_the_person_in_place_to_delete_again(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = _give_data(server, "bob", 2)
    store = server.context.object_store

    def refuse(self: object, key: str) -> None:
        raise OSError("disk gone")

    with monkeypatch.context() as patched:
        patched.setattr(type(store), "delete", refuse)  # the store is frozen: patch its class
        answer = server.client.delete("/api/users/bob?confirm=bob", headers=server.headers("root"))
    assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "storage_unavailable"
    assert _user(server, "bob")["devices"] == ["laptop"]
    assert store.read_bytes(keys[0]) == b"jpg"
    again = server.client.delete("/api/users/bob?confirm=bob", headers=server.headers("root"))
    assert again.status_code == 200 and store.read_bytes(keys[0]) is None
