"""Terminal sign-in: saved sessions (kept offline, dropped when refused), password, code and resend."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from agent.client import Challenge, SignedIn
from agent.session import SavedSession, load_session, save_session
from agent.settings import AgentSettings
from agent.signin import TerminalPrompter, restore_or_sign_in, sign_in_on_terminal
from contract.errors import AuthError, SessionExpired, TransientError

SERVER_URL = "http://vinova.test:5000"
EXPIRES_AT = "2026-12-25T00:00:00+00:00"


class FakeClient:
    """Answers like the server: one good password and code; whoami fails as told."""

    def __init__(self) -> None:
        self.token: str | None = None
        self.whoami_error: Exception | None = None
        self.codes_sent = 1

    def set_token(self, token: str | None) -> None:
        self.token = token

    def whoami(self) -> dict[str, Any]:
        if self.whoami_error is not None:
            raise self.whoami_error
        return {"username": "ann"}

    def login(self, username: str, password: str) -> Challenge:
        if (username, password) != ("ann", "right"):
            raise AuthError("Wrong username or password.", code="invalid_credentials")
        return Challenge("c1", "a***@example.com")

    def resend(self, challenge_id: str) -> Challenge:
        self.codes_sent += 1
        return Challenge(challenge_id, "a***@example.com")

    def verify(self, challenge_id: str, code: str) -> SignedIn:
        if code != f"00000{self.codes_sent}":
            raise AuthError("wrong code", code="invalid_code")
        self.token = "new-token"
        return SignedIn("new-token", "ann", False, EXPIRES_AT)


def prompter(answers: str) -> tuple[TerminalPrompter, io.StringIO]:
    shown = io.StringIO()
    return TerminalPrompter(stdin=io.StringIO(answers), stdout=shown), shown


@pytest.fixture
def settings(tmp_path: Path) -> AgentSettings:
    settings = AgentSettings(server_url=SERVER_URL, agent_dir=tmp_path / "agent")
    settings.prepare_agent_dir()
    return settings


def test_a_saved_session_starts_offline_when_the_server_is_down(settings: AgentSettings) -> None:
    save_session(settings.agent_dir, SavedSession(SERVER_URL, "ann", "saved-token", EXPIRES_AT))
    client = FakeClient()
    client.whoami_error = TransientError("connection refused")
    terminal, shown = prompter("")  # nobody is asked anything
    assert restore_or_sign_in(settings, client, terminal) == ("ann", True)  # type: ignore[arg-type]
    assert client.token == "saved-token" and shown.getvalue() == ""
    assert load_session(settings.agent_dir, SERVER_URL) is not None


def test_a_saved_session_the_server_accepts_is_online(settings: AgentSettings) -> None:
    save_session(settings.agent_dir, SavedSession(SERVER_URL, "ann", "saved-token", EXPIRES_AT))
    assert restore_or_sign_in(settings, FakeClient(), prompter("")[0]) == ("ann", False)  # type: ignore[arg-type]


def test_a_refused_saved_session_is_forgotten_and_the_terminal_signs_in(settings: AgentSettings) -> None:
    save_session(settings.agent_dir, SavedSession(SERVER_URL, "ann", "old-token", EXPIRES_AT))
    client = FakeClient()
    client.whoami_error = SessionExpired()
    terminal, _ = prompter("ann\nright\n000001\n")
    assert restore_or_sign_in(settings, client, terminal) == ("ann", False)  # type: ignore[arg-type]
    saved = load_session(settings.agent_dir, SERVER_URL)
    assert saved is not None and saved.token == "new-token"


def test_a_wrong_password_asks_again_and_resend_sends_a_new_code() -> None:
    client = FakeClient()
    terminal, shown = prompter("ann\nwrong\nann\nright\n000001x\nresend\n000002\n")
    signed_in = sign_in_on_terminal(client, terminal)  # type: ignore[arg-type]
    assert signed_in.token == "new-token"
    text = shown.getvalue()
    assert "Wrong username or password." in text
    assert "That code is not right." in text
    assert "A new code is on its way" in text
    assert "right" not in text.replace("not right", "")  # the password is never echoed


def test_no_answer_on_standard_input_fails_the_sign_in() -> None:
    with pytest.raises(AuthError) as caught:
        sign_in_on_terminal(FakeClient(), prompter("")[0])  # type: ignore[arg-type]
    assert caught.value.code == "no_input"
