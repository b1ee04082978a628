"""The terminal sign-in (``main.py --headless``) against a live server: it asks for the app's code.

A real :class:`ServerClient` talks HTTP to the server; the person's answers are lines on stdin.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
import requests
from server_support import add_user, make_app
from sqlalchemy import select
from support import live_server

from agent.client import ServerClient
from agent.device import Device
from agent.signin import TerminalPrompter, sign_in_on_terminal
from server.context import services_of
from server.db.models import AuthToken, User

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


def test_the_terminal_sign_in_asks_for_the_app_code_and_retries_a_wrong_one(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "data")
    add_user(app, "ann", "ann@example.com", PASSWORD)
    totp = services_of(app).auth.totp
    with services_of(app).database.session() as db:
        user_id = db.scalar(select(User.id).where(User.username == "ann"))
    assert user_id is not None
    secret = totp.begin_setup(user_id).secret
    totp.confirm(user_id, pyotp.TOTP(secret).at(datetime.now(UTC) - timedelta(seconds=30)))
    try:
        with live_server(app) as base_url:
            answers = io.StringIO(f"ann\n{PASSWORD}\n000000\n{pyotp.TOTP(secret).now()}\n")
            said = io.StringIO()
            session = requests.Session()
            try:
                client = ServerClient(base_url, session=session, device=Device("a" * 32, "ann-laptop"))
                signed_in = sign_in_on_terminal(client, TerminalPrompter(answers, said))
            finally:
                session.close()
        assert signed_in.username == "ann" and signed_in.token
        text = said.getvalue()
        assert "Enter the 6-digit code from your authenticator app" in text
        assert "Type the code your authenticator app shows now" in text
        assert "We sent" not in text
        assert not list((tmp_path / "data" / "outbox").glob("*.eml"))  # nothing was mailed
        with services_of(app).database.session() as db:
            names = list(db.scalars(select(AuthToken.device_name)))
        assert names == ["ann-laptop"]  # what /account lists for this session
    finally:
        services_of(app).database.dispose()
