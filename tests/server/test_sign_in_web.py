"""Sign-in over the app: client addresses, trusted proxy, malformed text, framing, web sessions, file modes.

Issue 10 items 10, 13 and 14, through ``app.test_client()`` on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from server_support import Server, ServerSetup, add_user, bearer, make_app
from sqlalchemy import func, select

from server.context import services_of
from server.db.models import WebSession

PASSWORD = "correct horse battery"


@pytest.fixture
def server_setup() -> ServerSetup:
    """An admin (ann) and a user (bob)."""
    return ServerSetup(password=PASSWORD)


def login_from(client: FlaskClient, address: str, username: str, password: str = PASSWORD,
               headers: dict[str, str] | None = None) -> Any:
    return client.post(
        "/auth/login", json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address}, headers=headers or {},
    )


def error_code(response: Any) -> str:
    return str(response.get_json()["error"]["code"])


# --------------------------------------------------------------------------- addresses
def test_failures_from_one_address_never_block_the_user_signing_in_from_another(server: Server) -> None:
    answers = [
        login_from(server.client, "203.0.113.7", "bob", "wrong password").status_code for _ in range(12)
    ]
    assert answers == [401] * 10 + [429] * 2
    assert login_from(server.client, "203.0.113.7", "bob").status_code == 429
    assert login_from(server.client, "198.51.100.20", "bob").status_code == 200


def test_an_unknown_name_gets_exactly_the_answers_and_headers_of_a_real_one(server: Server) -> None:
    def trace(name: str) -> list[tuple[int, Any, str | None]]:
        answers = [login_from(server.client, "203.0.113.8", name, "wrong password") for _ in range(11)]
        return [(r.status_code, r.get_json(), r.headers.get("Retry-After")) for r in answers]

    assert trace("bob") == trace("nobody")


def test_x_forwarded_for_is_ignored_unless_a_proxy_is_trusted(server: Server, tmp_path: Path) -> None:
    spoofed = [
        login_from(server.client, "203.0.113.9", "bob", "wrong password", {"X-Forwarded-For": f"10.9.0.{i}"})
        for i in range(11)
    ]
    assert spoofed[-1].status_code == 429  # a client cannot pick a new address per try
    proxied = make_app(f"sqlite:///{tmp_path / 'p.db'}", tmp_path / "p", VINOVA_TRUSTED_PROXIES="1")
    add_user(proxied, "bob", "bob@example.com", PASSWORD)
    client = proxied.test_client()
    for _ in range(10):
        login_from(client, "127.0.0.1", "bob", "wrong password", {"X-Forwarded-For": "203.0.113.50"})
    blocked = login_from(client, "127.0.0.1", "bob", PASSWORD, {"X-Forwarded-For": "203.0.113.50"})
    elsewhere = login_from(client, "127.0.0.1", "bob", PASSWORD, {"X-Forwarded-For": "203.0.113.51"})
    assert (blocked.status_code, elsewhere.status_code) == (429, 200)
    services_of(proxied).database.dispose()


# --------------------------------------------------------------------------- malformed text
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/auth/login", b'{"username": "\\ud800", "password": "x"}', "username"),
        ("/auth/login", b'{"username": "bob", "password": "a\\udfffb"}', "password"),
        ("/auth/verify", b'{"challenge_id": "\\ud800", "code": "123456"}', "challenge_id"),
        ("/auth/verify", b'{"challenge_id": "abc", "code": "\\ud800"}', "code"),
        ("/auth/resend", b'{"challenge_id": "\\ud83d"}', "challenge_id"),
        ("/auth/verify", b'{"challenge_id": "a\\u0000b", "code": "123456"}', "challenge_id"),
    ],
)
def test_a_lone_surrogate_is_a_400_naming_the_field(
    server: Server, path: str, body: bytes, field: str
) -> None:
    response = server.client.post(path, data=body, content_type="application/json")
    assert response.status_code == 400 and set(response.get_json()["error"]["fields"]) == {field}


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/auth/login"), ("POST", "/auth/verify"), ("POST", "/activity"), ("PUT", "/api/config"),
     ("POST", "/screenshots")],
)
def test_json_nested_a_hundred_thousand_deep_is_a_400_naming_the_body(
    server: Server, method: str, path: str
) -> None:
    body = b'{"samples": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    headers = {} if path.startswith("/auth") else bearer(server.sign_in("ann"))
    response = server.client.open(
        path, method=method, data=body, content_type="application/json", headers=headers
    )
    assert response.status_code == 400 and response.get_json()["error"]["fields"] == {
        "body": "the body is nested deeper than 32 levels"
    }


# --------------------------------------------------------------------------- pages and sessions
def test_pages_forbid_framing_and_inline_script(server: Server) -> None:
    page = server.client.get("/admin/login")
    assert page.headers["X-Frame-Options"] == "DENY"
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    script_sources = policy.split("script-src")[1].split(";")[0]
    assert script_sources.strip() == "'self'"
    templates = Path(__file__).resolve().parents[2] / "templates"
    for template in templates.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "<script>" not in text and not re.search(r"\son[a-z]+=", text), template.name


def _csrf(page: Any) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert match is not None
    return match.group(1)


def admin_sign_in(server: Server, client: FlaskClient, username: str = "ann") -> str:
    """Sign in through the /admin pages; the CSRF token of the page before the code."""
    token = _csrf(client.get("/admin/login"))
    client.post("/admin/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    code = server.code_for(f"{username}@example.com")
    answer = client.post("/admin/verify", data={"code": code, "csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/admin/")
    return token


def _cookie_header(response: Any) -> str:
    headers: list[str] = response.headers.getlist("Set-Cookie")
    return next(value for value in headers if value.startswith("vinova_admin="))


def test_the_admin_cookie_is_an_opaque_httponly_lax_id_and_sign_in_rotates_it_and_the_csrf_token(
    server: Server,
) -> None:
    client = server.app.test_client()
    first = client.get("/admin/login")
    before_id = client.get_cookie("vinova_admin")
    assert before_id is not None
    header = _cookie_header(first)
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header
    old_csrf = admin_sign_in(server, client)
    cookie = client.get_cookie("vinova_admin")
    assert cookie is not None and cookie.value != before_id.value
    decoded = base64.urlsafe_b64decode(cookie.value + "==")
    assert b"token" not in decoded and b"csrf" not in decoded and len(cookie.value) <= 64
    assert _csrf(client.get("/admin/")) != old_csrf
    with server.context.database.session() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 1
    client.post("/admin/logout", data={"csrf_token": _csrf(client.get("/admin/"))})
    with server.context.database.session() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0
    replayed = server.app.test_client()
    replayed.set_cookie("vinova_admin", cookie.value)
    assert replayed.get("/admin/").status_code == 302  # the copied cookie opens nothing after sign-out


def test_the_cookie_is_secure_over_https(server: Server) -> None:
    response = server.app.test_client().get("/admin/login", base_url="https://vinova.example")
    assert "Secure" in _cookie_header(response)


def test_disabling_ends_web_sessions_for_good_and_enabling_revives_none(server: Server) -> None:
    client = server.app.test_client()
    admin_sign_in(server, client)
    assert client.get("/admin/").status_code == 200
    runner = server.app.test_cli_runner()
    assert runner.invoke(args=["disable-user", "ann"]).exit_code == 0
    assert runner.invoke(args=["enable-user", "ann"]).exit_code == 0
    assert client.get("/admin/").status_code == 302


# --------------------------------------------------------------------------- files
def test_the_data_folders_and_database_are_owner_only_and_tightened_when_they_exist(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "outbox").mkdir(parents=True)
    (data / "screenshots").mkdir()
    database = data / "vinova.db"
    database.touch()
    loose = {data: 0o755, data / "outbox": 0o777, data / "screenshots": 0o755, database: 0o644}
    for path, mode in loose.items():
        os.chmod(path, mode)
    app = make_app(f"sqlite:///{database}", data)
    fresh = tmp_path / "fresh"
    other = make_app(f"sqlite:///{fresh / 'vinova.db'}", fresh)
    folders = (data, data / "outbox", data / "screenshots")
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in folders}
    assert set(modes.values()) == {0o700}, modes
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    assert stat.S_IMODE((fresh / "vinova.db").stat().st_mode) == 0o600
    services_of(app).database.dispose()
    services_of(other).database.dispose()
