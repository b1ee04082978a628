"""Sessions that last and that a person controls: sliding tokens, idle web sessions, /account (issue 11).

A fake clock drives every expiry; SQLite and PostgreSQL through ``app.test_client()``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from server_support import Server, ServerSetup, bearer
from sqlalchemy import select
from totp_support import app_code, csrf_of, recovery_codes_of, secret_of, web_sign_in

from server.account_sessions import browser_label
from server.db.models import AuthToken

PASSWORD = "correct horse battery"
START = datetime(2026, 12, 2, 9, 0, 5, tzinfo=UTC)


@pytest.fixture
def server_setup() -> ServerSetup:
    """ann (admin) and bob at START."""
    return ServerSetup(password=PASSWORD, start=START)


def desktop_sign_in(server: Server, username: str, device_name: str = "ann-laptop",
                    address: str = "198.51.100.7") -> str:
    login = server.client.post("/auth/login", json={"username": username, "password": PASSWORD},
                               environ_base={"REMOTE_ADDR": address})
    assert login.status_code == 200
    code = server.code_for(f"{username}@example.com")
    verified = server.client.post(
        "/auth/verify", json={"challenge_id": login.get_json()["challenge_id"], "code": code,
                              "device_name": device_name}, environ_base={"REMOTE_ADDR": address},
    )
    assert verified.status_code == 200, verified.get_json()
    return str(verified.get_json()["token"])


def me(server: Server, token: str) -> Any:
    return server.client.get("/auth/me", headers=bearer(token))


def token_row(server: Server, token: str) -> AuthToken:
    from server.passwords import token_digest

    with server.context.database.session() as db:
        row = db.scalar(select(AuthToken).where(AuthToken.token_hash == token_digest(token)))
    assert row is not None
    return row


def browser(server: Server, username: str) -> FlaskClient:
    client = server.app.test_client()
    answer = web_sign_in(client, username, PASSWORD, lambda: server.code_for(f"{username}@example.com"))
    assert answer.status_code == 302
    return client


# --------------------------------------------------------------------------- sliding tokens
def test_a_desktop_token_lasts_30_days_after_its_last_use_not_after_sign_in(server: Server) -> None:
    token = desktop_sign_in(server, "bob")
    assert me(server, token).get_json()["expires_at"] == (START + timedelta(days=30)).isoformat()
    server.clock.advance(days=29)
    used = me(server, token)
    assert used.status_code == 200
    assert used.get_json()["expires_at"] == (START + timedelta(days=59)).isoformat()
    server.clock.advance(days=29)  # 58 days after sign-in, 29 after the last use
    assert me(server, token).status_code == 200
    server.clock.advance(days=30, seconds=1)
    expired = me(server, token)
    assert (expired.status_code, expired.get_json()["error"]["code"]) == (401, "unauthorized")


def test_renewal_writes_at_most_every_ten_minutes_and_records_device_and_address(server: Server) -> None:
    token = desktop_sign_in(server, "bob", device_name="bob-desktop", address="198.51.100.7")
    first = token_row(server, token)
    assert (first.device_name, first.address, first.kind, first.last_used_at) == (
        "bob-desktop", "198.51.100.7", "desktop", START)
    server.clock.advance(599)
    server.client.get("/auth/me", headers=bearer(token), environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert token_row(server, token).last_used_at == START  # within ten minutes: no write
    server.clock.advance(1)
    server.client.get("/auth/me", headers=bearer(token), environ_base={"REMOTE_ADDR": "203.0.113.9"})
    renewed = token_row(server, token)
    assert renewed.last_used_at == START + timedelta(seconds=600)
    assert renewed.address == "203.0.113.9"
    assert renewed.expires_at == START + timedelta(seconds=600) + timedelta(days=30)


def test_the_idle_window_is_a_server_setting(server: Server, tmp_path: Any) -> None:
    from server_support import FakeClock, add_user, make_app

    clock = FakeClock(START)
    app = make_app(f"sqlite:///{tmp_path / 'short.db'}", tmp_path / "short", clock=clock,
                   VINOVA_TOKEN_IDLE_DAYS="2")
    add_user(app, "cy", "cy@example.com", PASSWORD)
    client = app.test_client()
    login = client.post("/auth/login", json={"username": "cy", "password": PASSWORD}).get_json()
    from server_support import latest_code

    code = latest_code(tmp_path / "short", "cy@example.com")
    body = {"challenge_id": login["challenge_id"], "code": code}
    answer = client.post("/auth/verify", json=body).get_json()
    assert answer["expires_at"] == (START + timedelta(days=2)).isoformat()
    bad = make_app_error(tmp_path)
    assert "VINOVA_TOKEN_IDLE_DAYS" in bad
    from server.context import services_of

    services_of(app).database.dispose()


def make_app_error(tmp_path: Any) -> str:
    from server_support import make_app

    from contract.errors import ConfigError

    try:
        make_app(f"sqlite:///{tmp_path / 'bad.db'}", tmp_path / "bad", VINOVA_TOKEN_IDLE_DAYS="forever")
    except ConfigError as exc:
        return str(exc.errors)
    return ""


# --------------------------------------------------------------------------- web sessions
def test_a_web_session_ends_after_12_hours_without_use(server: Server) -> None:
    client = browser(server, "ann")
    for _ in range(3):  # used every 11 hours: it lives on, and so does the browser's cookie
        server.clock.advance(hours=11)
        answer = client.get("/account")
        assert answer.status_code == 200
        assert "Max-Age=43200" in answer.headers.get("Set-Cookie", "")
    assert "Set-Cookie" not in client.get("/account").headers  # within the minute: nothing to renew
    server.clock.advance(hours=12, seconds=1)
    gone = client.get("/account")
    assert gone.status_code == 302 and gone.headers["Location"].endswith("/admin/login")


# --------------------------------------------------------------------------- /account
def test_account_lists_sessions_and_signs_one_out_then_everywhere(server: Server) -> None:
    desktop = desktop_sign_in(server, "bob", device_name="bob-laptop", address="198.51.100.8")
    web = browser(server, "bob")
    page = web.get("/account").get_data(as_text=True)
    assert "Desktop app: bob-laptop" in page and "198.51.100.8" in page
    assert "Browser: Chrome on Linux" in page and "(this session)" in page
    ref = f"t{token_row(server, desktop).id}"
    ended = web.post(f"/account/sessions/{ref}/sign-out", data={"csrf_token": csrf_of(page)})
    assert ended.status_code == 302
    assert me(server, desktop).status_code == 401
    assert "bob-laptop" not in web.get("/account").get_data(as_text=True)
    other = desktop_sign_in(server, "bob", device_name="bob-second")
    page = web.get("/account").get_data(as_text=True)
    everywhere = web.post("/account/sessions/sign-out-everywhere", data={"csrf_token": csrf_of(page)})
    assert everywhere.status_code == 302 and everywhere.headers["Location"].endswith("/admin/login")
    assert me(server, other).status_code == 401
    assert web.get("/account").status_code == 302
    unknown = browser(server, "bob")
    page = unknown.get("/account").get_data(as_text=True)
    missing = unknown.post("/account/sessions/t999999/sign-out", data={"csrf_token": csrf_of(page)})
    assert missing.status_code == 404


def test_account_changes_the_password_and_ends_the_other_sessions(server: Server) -> None:
    desktop = desktop_sign_in(server, "bob")
    web = browser(server, "bob")
    page = web.get("/account").get_data(as_text=True)
    form = {"csrf_token": csrf_of(page), "current_password": "wrong one",
            "new_password": "a much longer phrase", "repeat_password": "a much longer phrase"}
    refused = web.post("/account/password", data=form)
    assert refused.status_code == 400 and "Current password is not your current password" in refused.get_data(
        as_text=True)
    mismatch = web.post("/account/password",
                        data=form | {"current_password": PASSWORD, "repeat_password": "x"})
    assert mismatch.status_code == 400
    changed = web.post("/account/password", data=form | {"current_password": PASSWORD})
    assert changed.status_code == 302
    assert me(server, desktop).status_code == 401  # the other session ended
    assert web.get("/account").status_code == 200  # this one stays
    login = server.client.post("/auth/login", json={"username": "bob", "password": "a much longer phrase"})
    assert login.status_code == 200


def test_account_turns_the_app_on_with_a_qr_code_and_shows_recovery_codes_once(server: Server) -> None:
    web = browser(server, "bob")
    page = web.get("/account").get_data(as_text=True)
    started = web.post("/account/totp/setup", data={"csrf_token": csrf_of(page)})
    assert started.status_code == 302
    page = web.get("/account").get_data(as_text=True)
    assert '<svg' in page and 'id="totp-qr"' in page and "<script" not in page
    secret = secret_of(page)
    wrong = web.post("/account/totp/confirm", data={"csrf_token": csrf_of(page), "code": "000000"})
    assert wrong.status_code == 400 and 'id="totp-code-error"' in wrong.get_data(as_text=True)
    done = web.post("/account/totp/confirm",
                    data={"csrf_token": csrf_of(page), "code": app_code(secret, START)})
    codes = recovery_codes_of(done.get_data(as_text=True))
    assert done.status_code == 200 and len(codes) == 10
    later = web.get("/account").get_data(as_text=True)
    assert recovery_codes_of(later) == [] and "10 recovery codes left" in later
    off = web.post("/account/totp/off", data={"csrf_token": csrf_of(later), "password": "nope"})
    assert off.status_code == 400
    off = web.post("/account/totp/off", data={"csrf_token": csrf_of(later), "password": PASSWORD})
    assert off.status_code == 302
    assert "Off: sign-in codes are mailed" in web.get("/account").get_data(as_text=True)


def test_the_web_sign_in_asks_for_the_app_code_and_admins_can_be_required_to_use_one(server: Server) -> None:
    admin = browser(server, "ann")
    page = admin.get("/account").get_data(as_text=True)
    assert admin.post("/account/admin-rule", data={"csrf_token": csrf_of(page), "require_admin_totp": "on"}
                      ).status_code == 302
    sent_away = admin.get("/admin/")
    assert sent_away.status_code == 302 and sent_away.headers["Location"].endswith("/account")
    page = admin.get("/account").get_data(as_text=True)
    admin.post("/account/totp/setup", data={"csrf_token": csrf_of(page)})
    page = admin.get("/account").get_data(as_text=True)
    secret = secret_of(page)
    admin.post("/account/totp/confirm", data={"csrf_token": csrf_of(page), "code": app_code(secret, START)})
    assert admin.get("/admin/").status_code == 200
    fresh = server.app.test_client()
    server.clock.advance(30)
    answer = web_sign_in(fresh, "ann", PASSWORD, lambda: app_code(secret, server.clock()))
    assert answer.status_code == 302 and fresh.get("/admin/").status_code == 200
    bob = browser(server, "bob")
    page = bob.get("/account").get_data(as_text=True)
    assert 'id="admin-rule"' not in page
    assert bob.post("/account/admin-rule", data={"csrf_token": csrf_of(page)}).status_code == 403


def test_the_verify_page_says_which_code_to_enter(server: Server) -> None:
    client = server.app.test_client()
    page = client.get("/admin/login").get_data(as_text=True)
    client.post("/admin/login", data={"csrf_token": csrf_of(page), "username": "bob", "password": PASSWORD})
    assert "We mailed a 6-digit code" in client.get("/admin/verify").get_data(as_text=True)


def test_user_agents_read_as_words() -> None:
    assert browser_label("Mozilla/5.0 (Windows NT 10.0; Win64) AppleWebKit Chrome/130.0 Safari/537.36 Edg/130"
                         ) == "Edge on Windows"
    assert browser_label("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Firefox/131.0") == "Firefox on macOS"
    assert browser_label("") == "Unknown browser"


def test_a_busy_agent_renews_its_token_with_one_write_in_ten_minutes(server: Server) -> None:
    from sqlalchemy import event

    token = desktop_sign_in(server, "bob")
    writes: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE AUTH_TOKENS"):
            writes.append(statement)

    engine = server.context.database.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(120):  # one call every 10 s for twenty minutes
            server.clock.advance(10)
            assert me(server, token).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(writes) == 2
