"""Helpers for tests that need the server: build an app, add accounts, read mailed codes, sign in, fake time.

    app = make_app(database_url, tmp_path, SMTP_HOST=smtp.host, SMTP_PORT=smtp.port, SMTP_STARTTLS="false")
    add_user(app, "ann", "ann@example.com", "correct horse")
    token = sign_in(app.test_client(), "ann", "correct horse", lambda: latest_code(smtp, "ann@example.com"))

``sign_in`` also takes a base URL (``support.live_server``) and then talks HTTP through requests.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

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
    app.extensions["vinova"].auth.create_user(username, email, password, admin=admin)


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
