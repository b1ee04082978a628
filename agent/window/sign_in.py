"""The sign-in flow: a saved session, or password → code (mailed, or the authenticator app's) → session.

"Forgot password?" asks the server to mail a reset link (``POST /auth/password-reset``); errors are
put in plain words.

Tk thread only. Server calls run on the host's worker threads (:meth:`SignInHost.run_in_background`),
whose results come back to the Tk thread; the host then starts (or renews) the engine.
"""

from __future__ import annotations

import logging
import threading
import time
import tkinter as tk
from collections.abc import Callable
from tkinter import ttk
from typing import Protocol, TypeVar

from agent.client import Challenge, ServerClient, SignedIn
from agent.session import SavedSession, clear_session, load_session, save_session
from agent.settings import AgentSettings
from agent.window.dialogs import CodeView, SignInView
from agent.window.formatting import wait_text
from agent.window.look import Look
from contract.errors import AuthError, TransientError, VinovaError

log = logging.getLogger(__name__)

T = TypeVar("T")

RESEND_WAIT_SECONDS = 30

SIGN_IN_MESSAGES: dict[str, str] = {
    "invalid_credentials": "Wrong username or password.",
    "invalid_code": "That code is not right. Check the email and try again.",
    "code_expired": "That code has expired. Press Resend for a new one.",
    "code_used": "That code was already used. Press Resend for a new one.",
    "challenge_locked": "Too many wrong codes. Sign in again to get a new one.",
    "unauthorized": "This sign-in attempt is no longer valid. Sign in again.",
}
WRONG_APP_CODE = ("That code is not right. Type the code your authenticator app shows now "
                  "(and check that this computer's clock is right).")


def sign_in_error_text(error: BaseException, server_url: str) -> str:
    """Plain words for why a sign-in or code step failed."""
    if isinstance(error, TransientError):
        return f"Cannot reach the server at {server_url}. Check the address and your connection."
    if isinstance(error, AuthError):
        if error.code == "too_many_attempts":
            wait = wait_text(error.retry_after_seconds)
            return f"This account is locked after too many attempts. Try again in {wait}."
        if error.code == "resend_too_soon":
            wait = wait_text(error.retry_after_seconds or RESEND_WAIT_SECONDS)
            return f"Please wait {wait} before asking for another code."
        return SIGN_IN_MESSAGES.get(error.code, str(error))
    if isinstance(error, VinovaError):
        return f"The server gave an answer we did not expect: {error}"
    return f"Something went wrong: {type(error).__name__}"


class SignInHost(Protocol):
    """What the flow needs from the window's controller (all called on the Tk thread)."""

    @property
    def settings(self) -> AgentSettings:
        """The settings in force (the server address may change at sign-in)."""

    @property
    def client(self) -> ServerClient:
        """The client for the server in force."""

    def show(self, view: ttk.Frame, title: str) -> None:
        """Show ``view`` with ``title``."""

    def run_in_background(self, name: str, work: Callable[[], T], done: Callable[[T], None],
                          failed: Callable[[Exception], None]) -> threading.Thread:
        """Run ``work`` on a worker thread; ``done`` or ``failed`` run on the Tk thread."""

    def use_server(self, server_url: str) -> bool:
        """Switch to another server; False while an engine runs (sign out first)."""

    def start_agent(self, username: str) -> None:
        """Start tracking as ``username`` (a saved session was accepted, or the server is down)."""

    def signed_in(self, username: str) -> None:
        """A fresh session for ``username`` is saved: start or renew the engine."""


class SignInFlow:
    """Steers the sign-in and code dialogs and the saved session for a :class:`SignInHost`."""

    def __init__(self, root: tk.Misc, look: Look, host: SignInHost, *,
                 resend_wait_seconds: int = RESEND_WAIT_SECONDS) -> None:
        self.host = host
        self.resend_wait_seconds = resend_wait_seconds
        self.challenge: Challenge | None = None
        self.sign_in_view = SignInView(root, look, host.settings.server_url, self.submit_sign_in,
                                       on_forgot=self.forgot_password)
        self.code_view = CodeView(root, look, self.submit_code, self.resend_code, self.show_sign_in)

    # ------------------------------------------------------------------ saved session
    def begin(self) -> None:
        """Reuse a saved session (checked on a worker thread) or ask to sign in."""
        settings, client = self.host.settings, self.host.client
        saved = load_session(settings.agent_dir, settings.server_url)
        self.show_sign_in()
        if saved is None:
            return
        self.sign_in_view.set_busy(True, "Signing you in with your saved session…")
        client.set_token(saved.token)
        self.host.run_in_background(
            "vinova-session-check",
            client.whoami,
            lambda _me: self._saved_session_ok(saved, offline=False),
            lambda error: self._saved_session_failed(saved, error),
        )

    def _saved_session_ok(self, saved: SavedSession, *, offline: bool) -> None:
        if offline:
            log.warning("cannot reach the server: starting offline as %s (saved session)", saved.username)
        else:
            log.info("signed in as %s (saved session)", saved.username)
        self.sign_in_view.set_busy(False)
        self.host.start_agent(saved.username)

    def _saved_session_failed(self, saved: SavedSession, error: Exception) -> None:
        if isinstance(error, TransientError):
            self._saved_session_ok(saved, offline=True)
            return
        log.info("the saved session has ended; please sign in again")
        clear_session(self.host.settings.agent_dir)
        self.host.client.set_token(None)
        self.sign_in_view.set_busy(False)
        self.sign_in_view.show_message("Your saved sign-in has ended. Please sign in again.")

    # ------------------------------------------------------------------ password
    def show_sign_in(self, message: str | None = None) -> None:
        """The sign-in dialog (with an optional message such as why it is shown again)."""
        self.challenge = None
        self.sign_in_view.reset(message)
        self.host.show(self.sign_in_view, "Sign in")
        self.sign_in_view.focus_first()

    def submit_sign_in(self, server_url: str, username: str, password: str) -> None:
        """Check the password on a worker thread; the server mails a code."""
        wanted = server_url.rstrip("/")
        if wanted != self.host.settings.server_url.rstrip("/") and not self.host.use_server(wanted):
            self.sign_in_view.show_error("Sign out first to use another server.")
            return
        self.sign_in_view.set_busy(True, "Signing in…")
        client = self.host.client
        self.host.run_in_background(
            "vinova-sign-in",
            lambda: client.login(username, password),
            lambda challenge: self._code_sent(username, challenge),
            self._sign_in_failed,
        )

    def forgot_password(self, server_url: str, username: str) -> None:
        """Ask the server to mail a password-reset link for ``username`` (it answers the same either way)."""
        wanted = server_url.rstrip("/")
        if wanted != self.host.settings.server_url.rstrip("/") and not self.host.use_server(wanted):
            self.sign_in_view.show_error("Sign out first to use another server.")
            return
        self.sign_in_view.set_busy(True, "Asking for a reset link…")
        client = self.host.client

        def asked(_result: None) -> None:
            self.sign_in_view.set_busy(False)
            self.sign_in_view.show_message(
                f"If {username} has an account, a mail with a link to choose a new password is on its way "
                "to its address. The link works for 30 minutes.")
            log.info("a password reset link was asked for")

        def refused(error: Exception) -> None:
            self.sign_in_view.set_busy(False)
            self.sign_in_view.show_error(sign_in_error_text(error, self.host.settings.server_url))

        self.host.run_in_background("vinova-password-reset", lambda: client.request_password_reset(username),
                                    asked, refused)

    def _sign_in_failed(self, error: Exception) -> None:
        self.sign_in_view.set_busy(False)
        text = sign_in_error_text(error, self.host.settings.server_url)
        log.warning("sign-in failed: %s", text)
        self.sign_in_view.show_error(text)
        if isinstance(error, AuthError) and error.code == "invalid_credentials":
            self.sign_in_view.clear_password()
            self.sign_in_view.password_entry.focus_set()

    def _code_sent(self, username: str, challenge: Challenge) -> None:
        self.sign_in_view.set_busy(False)
        self.sign_in_view.clear_password()
        self.challenge = challenge
        if challenge.method == "totp":
            log.info("sign-in awaits the code of the authenticator app")
        else:
            log.info("a sign-in code was sent to %s", challenge.sent_to)
        self.code_view.start(username, challenge.sent_to, time.monotonic() + self.resend_wait_seconds,
                             challenge.method)
        self.host.show(self.code_view, "Enter code")
        self.code_view.focus_code()

    # ------------------------------------------------------------------ code
    def submit_code(self, code: str) -> None:
        """Trade the emailed code for a session on a worker thread."""
        challenge = self.challenge
        if challenge is None:
            self.show_sign_in()
            return
        self.code_view.set_busy(True, "Checking the code…")
        client = self.host.client
        self.host.run_in_background(
            "vinova-verify", lambda: client.verify(challenge.challenge_id, code), self._signed_in,
            self._code_failed,
        )

    def _code_failed(self, error: Exception) -> None:
        self.code_view.set_busy(False)
        text = sign_in_error_text(error, self.host.settings.server_url)
        from_app = self.challenge is not None and self.challenge.method == "totp"
        if from_app and isinstance(error, AuthError) and error.code == "invalid_code":
            text = WRONG_APP_CODE
        log.warning("sign-in code refused: %s", text)
        if isinstance(error, AuthError) and error.code in ("challenge_locked", "unauthorized"):
            self.show_sign_in(text)
            return
        self.code_view.show_error(text)
        if isinstance(error, AuthError) and error.code == "invalid_code":
            self.code_view.code.set("")  # ready for the corrected code
        self.code_view.focus_code()

    def resend_code(self) -> None:
        """Ask the server for a new code (the button is disabled while the wait runs)."""
        challenge = self.challenge
        if challenge is None:
            return
        self.code_view.set_busy(True, "Sending a new code…")
        client = self.host.client

        def sent(new: Challenge) -> None:
            self.challenge = new
            self.code_view.set_busy(False)
            self.code_view.resent(new.sent_to, time.monotonic() + self.resend_wait_seconds)
            log.info("a new sign-in code was sent to %s", new.sent_to)

        def refused(error: Exception) -> None:
            self.code_view.set_busy(False)
            if isinstance(error, AuthError) and error.code == "resend_too_soon":
                wait = error.retry_after_seconds or self.resend_wait_seconds
                self.code_view.resent(None, time.monotonic() + wait)
            self._code_failed(error)

        self.host.run_in_background("vinova-resend", lambda: client.resend(challenge.challenge_id), sent,
                                    refused)

    def _signed_in(self, signed_in: SignedIn) -> None:
        self.code_view.set_busy(False)
        self.challenge = None
        settings = self.host.settings
        save_session(
            settings.agent_dir,
            SavedSession(settings.server_url, signed_in.username, signed_in.token, signed_in.expires_at),
        )
        log.info("signed in as %s", signed_in.username)
        self.host.signed_in(signed_in.username)
