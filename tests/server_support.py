"""Helpers for tests that need the server: build an app, add accounts, read mailed codes, sign in, fake time.

    app = make_app(database_url, tmp_path, SMTP_HOST=smtp.host, SMTP_PORT=smtp.port, SMTP_STARTTLS="false")
    add_user(app, "ann", "ann@example.com", "correct horse")
    token = sign_in(app.test_client(), "ann", "correct horse", lambda: latest_code(smtp, "ann@example.com"))

``sign_in`` also takes a base URL (``support.live_server``) and then talks HTTP through requests.
The ``server`` fixture (tests/conftest.py) builds a :class:`Server` from a :class:`ServerSetup`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask
from flask.testing import FlaskClient

if TYPE_CHECKING:  # the server's modules load only when a test builds a server
    from server.context import ServerContext

TEST_SECRET_KEY = "test-secret-key-not-for-production"
_CODE_PATTERN = re.compile(r"\b(\d{6})\b")


class FakeClock:
    """A settable, advanceable tz-aware UTC clock; pass it as ``make_app(..., clock=clock)``."""

    def __init__(self, start: datetime | None = None) -> None:
        moment = start or datetime.now(UTC).replace(microsecond=0)
        if moment.tzinfo is None:
            raise ValueError("FakeClock needs a tz-aware datetime")
        self._now = moment.astimezone(UTC)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        """Move forward by ``seconds`` (and/or timedelta keywords such as ``minutes=5``); return now."""
        self._now += timedelta(seconds=seconds, **delta)
        return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (tz-aware)."""
        if moment.tzinfo is None:
            raise ValueError("FakeClock needs a tz-aware datetime")
        self._now = moment.astimezone(UTC)


def make_app(database_url: str, data_dir: Path, **overrides: Any) -> Flask:
    """A server on ``database_url`` with its data dir in ``data_dir``; mail goes to ``data_dir/outbox``.

    Keyword overrides use the environment variable names (``SMTP_HOST=...``) plus ``clock=``.
    The project's ``.env`` is not read.
    """
    from app import create_app

    settings: dict[str, Any] = {
        "VINOVA_ENV_FILE": "",
        "VINOVA_DATABASE_URL": database_url,
        "VINOVA_DATA_DIR": str(data_dir),
        "VINOVA_SECRET_KEY": TEST_SECRET_KEY,
        "SMTP_HOST": "",
        "MAIL_FROM": "vinova@example.com",
    }
    if overrides.get("SMTP_HOST") and "SMTP_STARTTLS" not in overrides:
        settings["SMTP_STARTTLS"] = "false"  # the test SMTP server speaks plain SMTP
    settings.update(overrides)
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


def add_user(app: Flask, username: str, email: str, password: str, *, admin: bool = False) -> None:
    """Create an account directly (as the ``create-user`` CLI would)."""
    from server.context import services_of

    services_of(app).auth.create_user(username, email, password, admin=admin)


def smtp_settings(smtp_server: Any) -> dict[str, Any]:
    """make_app overrides that send mail to the ``smtp_server`` fixture."""
    return {"SMTP_HOST": smtp_server.host, "SMTP_PORT": smtp_server.port, "SMTP_STARTTLS": "false"}


def _message_text(message: Message) -> str:
    parts = message.walk() if message.is_multipart() else iter([message])
    texts = []
    for part in parts:
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                texts.append(payload.decode(part.get_content_charset() or "utf-8"))
    return "\n".join(texts).replace("\r\n", "\n")


def _outbox_messages(path: Path, address: str) -> list[Message]:
    directory = path / "outbox" if (path / "outbox").is_dir() else path
    files = sorted(directory.glob("*.eml"), key=lambda item: (item.stat().st_mtime_ns, item.name))
    messages = [message_from_bytes(item.read_bytes()) for item in files]
    return [m for m in messages if address.lower() in str(m.get("To", "")).lower()]


def latest_code(smtp_or_outbox: Any, address: str) -> str:
    """The 6-digit code in the newest mail to ``address``.

    ``smtp_or_outbox`` is the ``smtp_server`` fixture (SmtpCapture) or a Path: the outbox dir or
    the data dir holding ``outbox/``.
    """
    if isinstance(smtp_or_outbox, (str, Path)):
        messages = _outbox_messages(Path(smtp_or_outbox), address)
    else:
        messages = smtp_or_outbox.messages_to(address)
    if not messages:
        raise AssertionError(f"no mail to {address}")
    match = _CODE_PATTERN.search(_message_text(messages[-1]))
    if match is None:
        raise AssertionError(f"no 6-digit code in the newest mail to {address}")
    return match.group(1)


def _post(client_or_base_url: FlaskClient | str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    if isinstance(client_or_base_url, str):
        import requests

        response = requests.post(f"{client_or_base_url.rstrip('/')}{path}", json=body, timeout=30)
        return response.status_code, response.json()
    result = client_or_base_url.post(path, json=body)
    return result.status_code, result.get_json()


def sign_in(
    client_or_base_url: FlaskClient | str, username: str, password: str, code_reader: Callable[[], str]
) -> str:
    """Sign in through /auth/login and /auth/verify; return the bearer token.

    ``code_reader`` takes no arguments and returns the mailed code, e.g.
    ``lambda: latest_code(smtp_server, "ann@example.com")``; it is called after the login call.
    """
    status, body = _post(client_or_base_url, "/auth/login", {"username": username, "password": password})
    if status != 200:
        raise AssertionError(f"login failed: {status} {body}")
    code = code_reader()
    status, body = _post(
        client_or_base_url, "/auth/verify", {"challenge_id": body["challenge_id"], "code": code}
    )
    if status != 200:
        raise AssertionError(f"verify failed: {status} {body}")
    token: str = body["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


# --------------------------------------------------------------------------- the `server` fixture
DEFAULT_PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class ServerSetup:
    """What the ``server`` fixture builds; a test module overrides the ``server_setup`` fixture.

    ``users`` maps each account name (mail to ``<name>@example.com``) to whether it is an admin;
    ``signed_in`` signs every account in through the API at start (tokens in ``Server.tokens``).
    """

    users: Mapping[str, bool] = field(default_factory=lambda: {"ann": True, "bob": False})
    signed_in: bool = False
    start: datetime | None = None
    password: str = DEFAULT_PASSWORD
    data_subdir: str = ""
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Server:
    """A test server: the app, its test client, its fake clock, its data dir and signed-in tokens."""

    app: Flask
    client: FlaskClient
    clock: FakeClock
    data_dir: Path
    password: str
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def context(self) -> ServerContext:
        """The app's ServerContext (database, auth, object store, settings)."""
        from server.context import services_of

        return services_of(self.app)

    def code_for(self, address: str) -> str:
        """The newest code mailed to ``address``."""
        return latest_code(self.data_dir, address)

    def sign_in(self, username: str) -> str:
        """Sign ``username`` in through the API (a new token each call)."""
        return sign_in(self.client, username, self.password, lambda: self.code_for(f"{username}@example.com"))

    def headers(self, username: str) -> dict[str, str]:
        """The Authorization header of ``username``'s token from the start."""
        return bearer(self.tokens[username])

    def admin_browser(self, username: str) -> FlaskClient:
        """A new test client whose session cookie holds ``username``'s token (an /admin browser)."""
        client = self.app.test_client()
        with client.session_transaction() as browser_session:
            browser_session["token"] = self.tokens[username]
        return client

    def close(self) -> None:
        """Release the database connections."""
        self.context.database.dispose()


def build_server(database_url: str, data_dir: Path, setup: ServerSetup) -> Server:
    """Build the app of ``setup`` on ``database_url`` with its data in ``data_dir``."""
    if setup.data_subdir:
        data_dir = data_dir / setup.data_subdir
    clock = FakeClock(setup.start)
    app = make_app(database_url, data_dir, clock=clock, **setup.overrides)
    server = Server(app, app.test_client(), clock, data_dir, setup.password)
    for username, admin in setup.users.items():
        add_user(app, username, f"{username}@example.com", setup.password, admin=admin)
    if setup.signed_in:
        server.tokens = {username: server.sign_in(username) for username in setup.users}
    return server


def read_csv_rows(text: str) -> list[dict[str, str]]:
    """Parse a report or slots CSV (skipping its ``#`` lines) into one dict per row."""
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines))
