"""Sign-in on the terminal (``main.py --headless``): username, password, then the code.

The code is the mailed one, or the authenticator app's when the account has one (``method`` "totp").

Plain lines are read when stdin is not a terminal, so a sign-in can be scripted. A saved session
is reused while the server still accepts it, and used as is (offline) while the server is down.
"""

from __future__ import annotations

import getpass
import logging
import sys
from typing import TextIO

from agent.client import ServerClient, SignedIn
from agent.session import SavedSession, clear_session, load_session, save_session
from agent.settings import AgentSettings
from contract.errors import AuthError, SessionExpired, TransientError, VinovaError

log = logging.getLogger(__name__)


class TerminalPrompter:
    """Asks questions on the terminal; reads plain lines when stdin is not a terminal."""

    def __init__(self, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
        self._stdin = stdin
        self._stdout = stdout

    def say(self, text: str) -> None:
        """Show one line to the user."""
        print(text, file=self._stdout, flush=True)

    def ask(self, label: str, *, secret: bool = False) -> str:
        """One answer; EOF raises AuthError (nobody is there to answer)."""
        if secret and self._stdin.isatty():
            return getpass.getpass(f"{label}: ")
        print(f"{label}: ", end="", file=self._stdout, flush=True)
        line = self._stdin.readline()
        if not line:
            raise AuthError("no answer on standard input", code="no_input")
        return line.rstrip("\r\n")


def sign_in_on_terminal(client: ServerClient, prompter: TerminalPrompter, attempts: int = 3) -> SignedIn:
    """Username and password, then the emailed code (``resend`` asks for a new one)."""
    challenge = None
    for _ in range(attempts):
        username = prompter.ask("Username").strip()
        password = prompter.ask("Password", secret=True)
        try:
            challenge = client.login(username, password)
            break
        except AuthError as exc:
            if exc.code == "too_many_attempts":
                wait = f" Try again in {exc.retry_after_seconds} s." if exc.retry_after_seconds else ""
                raise AuthError(f"This account is locked for now.{wait}", code=exc.code) from exc
            prompter.say("Wrong username or password." if exc.code == "invalid_credentials" else str(exc))
    if challenge is None:
        # main.py says "Sign-in failed: " before it (issue 13: not "sign-in failed: sign-in failed")
        raise AuthError("wrong username or password", code="invalid_credentials")
    if challenge.method == "totp":
        prompter.say("Enter the 6-digit code from your authenticator app (or one of your recovery codes).")
    else:
        prompter.say(f"We sent a 6-digit code to {challenge.sent_to}. Type it, or 'resend' for a new one.")
    while True:
        code = prompter.ask("Code").strip()
        try:
            if code.lower() == "resend" and challenge.method != "totp":
                challenge = client.resend(challenge.challenge_id)
                prompter.say(f"A new code is on its way to {challenge.sent_to}.")
                continue
            return client.verify(challenge.challenge_id, code)
        except AuthError as exc:
            messages = {
                "invalid_code": "That code is not right. Try again." if challenge.method == "email"
                else "That code is not right. Type the code your authenticator app shows now.",
                "code_expired": "That code has expired. Type 'resend' for a new one.",
                "code_used": "That code was already used. Type 'resend' for a new one.",
                "resend_too_soon": f"Please wait {exc.retry_after_seconds or 30} s before asking again.",
            }
            if exc.code not in messages:
                raise
            prompter.say(messages[exc.code])


def restore_or_sign_in(
    settings: AgentSettings, client: ServerClient, prompter: TerminalPrompter
) -> tuple[str, bool]:
    """Reuse the saved token when the server still accepts it; otherwise sign in on the terminal.

    Returns (username, offline): when the server cannot be reached the saved session is used as is.
    """
    saved = load_session(settings.agent_dir, settings.server_url)
    if saved is not None:
        client.set_token(saved.token)
        try:
            client.whoami()
            log.info("signed in as %s (saved session)", saved.username)
            return saved.username, False
        except TransientError as exc:
            log.warning("cannot reach the server (%s): starting offline with the saved session", exc)
            return saved.username, True
        except (SessionExpired, VinovaError):
            log.info("the saved session has ended; please sign in again")
            clear_session(settings.agent_dir)
            client.set_token(None)
    signed_in = sign_in_on_terminal(client, prompter)
    save_session(
        settings.agent_dir,
        SavedSession(settings.server_url, signed_in.username, signed_in.token, signed_in.expires_at),
    )
    log.info("signed in as %s", signed_in.username)
    return signed_in.username, False
