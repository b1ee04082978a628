"""The real desktop app under Xvfb: a sign-in with an authenticator app's code, and "Forgot password?".

The server runs in this process (SQLite, mail to aiosmtpd); ``main.py`` is a subprocess driven with
xdotool as a person would. The app's code is computed with pyotp from the secret the server made.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import requests
from server_support import add_user, make_app, smtp_settings
from sqlalchemy import select
from support import live_server, wait_until
from test_desktop_app import desktop_app

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


@pytest.fixture
def totp_server(tmp_path: Path, smtp_server: Any) -> Iterator[tuple[Any, str, str, list[str]]]:
    """A live server where ann signs in with an authenticator app: (app, base URL, secret, recovery codes)."""
    from server.context import services_of

    app = make_app(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "server-data",
                   **smtp_settings(smtp_server))
    add_user(app, "ann", "ann@example.com", PASSWORD)
    totp = services_of(app).auth.totp
    user_id = _user_id(app, "ann")
    secret = totp.begin_setup(user_id).secret
    # Confirmed with the previous step's code, so the app's current code is still unused.
    earlier = datetime.now(UTC) - timedelta(seconds=30)
    codes = totp.confirm(user_id, pyotp.TOTP(secret).at(earlier))
    with live_server(app) as base_url:
        yield app, base_url, secret, codes
    services_of(app).database.dispose()


def _user_id(app: Any, username: str) -> int:
    from server.context import services_of
    from server.db.models import User

    with services_of(app).database.session() as db:
        found = db.scalar(select(User.id).where(User.username == username))
    assert found is not None
    return int(found)


def test_the_window_asks_for_the_app_code_and_signs_in_with_it(
    xvfb: Any, tmp_path: Path, smtp_server: Any, totp_server: tuple[Any, str, str, list[str]]
) -> None:
    app_server, base_url, secret, _codes = totp_server
    with desktop_app(xvfb.name, base_url, tmp_path) as app:
        app.sign_in("ann", PASSWORD)
        app.wait_for_title("Enter code")
        app.wait_for_log("sign-in awaits the code of the authenticator app")
        app.type_text("000000")  # a wrong code first: said in the app's words, the dialog stays
        app.key("Return")
        app.wait_for_log("Type the code your authenticator app shows now")
        app.focus()  # the wrong code was cleared: the field waits for the right one
        app.type_text(pyotp.TOTP(secret).now())
        app.key("Return")
        app.wait_for_title("Tracking")
        assert (app.agent_dir / "session.json").exists()
    assert smtp_server.messages_to("ann@example.com") == []  # no code was mailed
    from server.context import services_of
    from server.db.models import AuthToken

    with services_of(app_server).database.session() as db:
        names = list(db.scalars(select(AuthToken.device_name).where(AuthToken.revoked_at.is_(None))))
    assert len(names) == 1 and names[0]  # the device's name, listed on /account


def test_forgot_password_in_the_window_mails_a_reset_link(
    xvfb: Any, tmp_path: Path, smtp_server: Any, totp_server: tuple[Any, str, str, list[str]]
) -> None:
    _app, base_url, _secret, _codes = totp_server
    with desktop_app(xvfb.name, base_url, tmp_path) as app:
        app.wait_for_title("Sign in")
        app.focus()
        app.type_text("ann")
        app.key("Tab", "Tab", "Tab", "space")  # password → Sign in → Forgot password?
        app.wait_for_log("a password reset link was asked for")
        message = smtp_server.wait_for_message("ann@example.com", count=1)
        assert "password" in str(message.get("Subject", "")).lower()
        wait_until(lambda: app.title() == "Vinova — Sign in", 5, message="still on the sign-in form")


def test_a_recovery_code_typed_in_the_window_signs_in_once(
    xvfb: Any, tmp_path: Path, smtp_server: Any, totp_server: tuple[Any, str, str, list[str]]
) -> None:
    _app, base_url, _secret, codes = totp_server
    with desktop_app(xvfb.name, base_url, tmp_path) as app:
        app.sign_in("ann", PASSWORD)
        app.wait_for_title("Enter code")
        app.type_text(codes[0].upper())  # as read aloud from paper
        app.key("Return")
        app.wait_for_title("Tracking")
    again = requests.post(f"{base_url}/auth/login", json={"username": "ann", "password": PASSWORD},
                          timeout=10)
    used = requests.post(f"{base_url}/auth/verify", timeout=10,
                         json={"challenge_id": again.json()["challenge_id"], "code": codes[0]})
    assert used.status_code == 401
