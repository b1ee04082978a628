"""The desktop face of the agent: the sign-in and code dialogs, the live main window, ``run_gui``.

Threads: only the Tk (main) thread touches widgets. Sign-in calls, starting and stopping the
engine run on short-lived worker threads; they and the engine post callables to
``VinovaApp.events`` (a ``queue.Queue``), which the Tk thread drains every 250 ms with
``after()``. Log records reach the pane through :class:`log_pane.QueueLogHandler` the same way.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import signal
import sys
import threading
import time
import tkinter as tk
from collections.abc import Callable
from datetime import datetime
from tkinter import ttk
from types import FrameType
from typing import Any, TypeVar

import time_manager
from activity_tracker import ActivityTotals
from agent.client import Challenge, ServerClient, SignedIn
from agent.engine import Agent, AgentSettings
from agent.session import SavedSession, clear_session, load_session, save_session
from agent.window.log_pane import KIND_ACTIVITY, KIND_ATTRIBUTE, KIND_UPLOAD, LogPane, QueueLogHandler
from agent.window.views import (
    CapturePreview,
    CodeView,
    Look,
    MainView,
    SignInView,
    attach_capture_preview,
    describe_status,
    setup_look,
)
from contract.errors import AuthError, TransientError, VinovaError

log = logging.getLogger(__name__)

T = TypeVar("T")
AgentBuilder = Callable[[AgentSettings, ServerClient, str, Callable[[], None]], Agent]
ClientFactory = Callable[[str], ServerClient]

TICK_MS = 250  # measured: a 100 ms tick alone costs ~0.25 % of a core, 250 ms ~0.11 %
REFRESH_MS = 1000
EVENTS_PER_TICK = 200
RESEND_WAIT_SECONDS = 30
CLOSE_TIMEOUT_SECONDS = 2.0
SCALE_VARIABLE = "VINOVA_UI_SCALE"
EXIT_OK = 0
EXIT_NO_WINDOW = 4

SIGN_IN_MESSAGES: dict[str, str] = {
    "invalid_credentials": "Wrong username or password.",
    "invalid_code": "That code is not right. Check the email and try again.",
    "code_expired": "That code has expired. Press Resend for a new one.",
    "code_used": "That code was already used. Press Resend for a new one.",
    "challenge_locked": "Too many wrong codes. Sign in again to get a new one.",
    "unauthorized": "This sign-in attempt is no longer valid. Sign in again.",
}


def wait_text(seconds: int | None) -> str:
    """``"4 min 10 s"`` for a wait the user is asked to sit out."""
    if seconds is None:
        return "a little while"
    minutes, rest = divmod(max(0, int(seconds)), 60)
    if minutes and rest:
        return f"{minutes} min {rest} s"
    return f"{minutes} min" if minutes else f"{rest} s"


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


class MinuteSummaries:
    """Turns running "today" totals into one activity summary per minute (Tk thread)."""

    def __init__(self) -> None:
        self._minute: int | None = None
        self._previous: ActivityTotals | None = None

    def update(self, minute: int, totals: ActivityTotals) -> ActivityTotals | None:
        """Feed the totals now; returns the activity since the last minute boundary when one passed."""
        if self._minute is None or self._previous is None:
            self._minute, self._previous = minute, totals
            return None
        if minute == self._minute:
            return None
        previous = self._previous
        self._minute, self._previous = minute, totals
        if totals.active_seconds < previous.active_seconds or totals.keys < previous.keys:
            return totals  # a new local day began: today's totals restarted from zero
        return ActivityTotals(
            totals.active_seconds - previous.active_seconds,
            totals.keys - previous.keys,
            totals.clicks - previous.clicks,
            totals.scrolls - previous.scrolls,
            totals.mouse_px - previous.mouse_px,
        )


class VinovaApp:
    """Steers the views: saved session or sign-in → code → main window; sign-out; close."""

    def __init__(
        self,
        root: tk.Tk,
        settings: AgentSettings,
        client: ServerClient,
        build_agent: AgentBuilder,
        *,
        look: Look | None = None,
        client_factory: ClientFactory = ServerClient,
        resend_wait_seconds: int = RESEND_WAIT_SECONDS,
        log_handler: QueueLogHandler | None = None,
    ) -> None:
        self.root = root
        self.settings = settings
        self.client = client
        self.build_agent = build_agent
        self.client_factory = client_factory
        self.resend_wait_seconds = resend_wait_seconds
        self.look = look or setup_look(root, 1.0)
        self.events: queue.Queue[Callable[[], None]] = queue.Queue()
        self.log_handler = log_handler or QueueLogHandler()
        self.agent: Agent | None = None
        self.challenge: Challenge | None = None
        self.closed = False
        self._closing = False
        self._after_ids: dict[str, str] = {}
        self._starter: threading.Thread | None = None
        self._start_cancelled = threading.Event()
        self._signing_out = False
        self._summaries = MinuteSummaries()
        self._uploaded_total: int | None = None
        self._last_status_key = ""
        self._last_preview_key: str | None = None

        root.title("Vinova")
        root.protocol("WM_DELETE_WINDOW", self.close)
        root.bind_all("<Control-q>", lambda _event: self.close())
        # Alt+P and Alt+S press the underlined Pause/Resume and Sign out buttons of the main window.
        root.bind_all("<Alt-p>", lambda _event: self._main_shortcut(self.toggle_pause))
        root.bind_all("<Alt-s>", lambda _event: self._main_shortcut(self.sign_out))
        root.report_callback_exception = self._report_callback_exception
        root.columnconfigure(0, weight=1)
        root.rowconfigure(0, weight=1)
        self.sign_in_view = SignInView(root, self.look, settings.server_url, self.submit_sign_in)
        self.code_view = CodeView(root, self.look, self.submit_code, self.resend_code, self.back_to_sign_in)
        self.main_view = MainView(
            root, self.look, on_pause_toggle=self.toggle_pause, on_sign_out=self.sign_out,
            time_text=self._time_of_day,
        )
        self.log_pane: LogPane = self.main_view.log_pane
        self.current_view: ttk.Frame | None = None

    # ------------------------------------------------------------------ plumbing
    def post(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the Tk thread soon (any thread may call this)."""
        self.events.put(callback)

    def run_in_background(
        self, name: str, work: Callable[[], T], done: Callable[[T], None],
        failed: Callable[[Exception], None],
    ) -> threading.Thread:
        """Run ``work`` on a worker thread; its result or error comes back to the Tk thread."""

        def runner() -> None:
            try:
                result = work()
            except Exception as exc:  # noqa: BLE001 - handed to the Tk thread, which shows it in plain words
                error = exc
                self.post(lambda: failed(error))
                return
            self.post(lambda: done(result))

        thread = threading.Thread(target=runner, name=name, daemon=True)
        thread.start()
        return thread

    def _schedule(self, name: str, delay_ms: int, callback: Callable[[], None]) -> None:
        if not self.closed:
            self._after_ids[name] = self.root.after(delay_ms, callback)

    def _tick(self) -> None:
        """Drain posted events and log lines (every 250 ms); a failing event never stops the drain."""
        try:
            for _ in range(EVENTS_PER_TICK):
                try:
                    callback = self.events.get_nowait()
                except queue.Empty:
                    break
                try:
                    callback()
                except Exception:  # job boundary: one bad event must not freeze the window
                    log.exception("a window update failed")
                if self.closed:
                    return
            self.log_pane.drain(self.log_handler)
        finally:
            self._schedule("tick", TICK_MS, self._tick)

    def _every_second(self) -> None:
        try:
            self.code_view.update_countdown(time.monotonic())
            if self.current_view is self.main_view:
                self.refresh_main()
        except Exception:  # job boundary: keep ticking even if one refresh fails
            log.exception("refreshing the window failed")
        finally:
            self._schedule("second", REFRESH_MS, self._every_second)

    def _main_shortcut(self, action: Callable[[], None]) -> None:
        if self.current_view is self.main_view and self.agent is not None:
            action()

    def _report_callback_exception(self, kind: type[BaseException], error: BaseException, tb: Any) -> None:
        log.error("window error", exc_info=(kind, error, tb))

    def _time_of_day(self, moment: datetime) -> str:
        zone = self.agent.poller.current.timezone if self.agent is not None else "local"
        return f"{time_manager.to_local(moment, zone):%H:%M:%S}"

    def show(self, view: ttk.Frame, title: str) -> None:
        """Show one of the three views in the window."""
        if self.current_view is not view:
            if self.current_view is not None:
                self.current_view.grid_remove()
            view.grid(row=0, column=0, sticky="nsew")
            self.current_view = view
            if view is self.main_view:
                self.look.place_window(self.root, *self.look.main_size_px)
            else:
                self.root.update_idletasks()
                self.look.place_window(self.root, view.winfo_reqwidth(), view.winfo_reqheight())
        self.set_title(title)

    def set_title(self, title: str) -> None:
        """The window title; tests and screen readers find the window and its state by it."""
        self.root.title(f"Vinova — {title}")

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        """Attach the log pane, start the timers, then reuse a saved session or ask to sign in."""
        logging.getLogger().addHandler(self.log_handler)
        self._schedule("tick", TICK_MS, self._tick)
        self._schedule("second", REFRESH_MS, self._every_second)
        saved = load_session(self.settings.agent_dir, self.settings.server_url)
        if saved is None:
            self.show_sign_in()
            return
        self.show_sign_in()
        self.sign_in_view.set_busy(True, "Signing you in with your saved session…")
        self.client.set_token(saved.token)
        self.run_in_background(
            "vinova-session-check",
            self.client.whoami,
            lambda _me: self._saved_session_ok(saved, offline=False),
            lambda error: self._saved_session_failed(saved, error),
        )

    def _saved_session_ok(self, saved: SavedSession, *, offline: bool) -> None:
        if offline:
            log.warning("cannot reach the server: starting offline as %s (saved session)", saved.username)
        else:
            log.info("signed in as %s (saved session)", saved.username)
        self.sign_in_view.set_busy(False)
        self.start_agent(saved.username)

    def _saved_session_failed(self, saved: SavedSession, error: Exception) -> None:
        if isinstance(error, TransientError):
            self._saved_session_ok(saved, offline=True)
            return
        log.info("the saved session has ended; please sign in again")
        clear_session(self.settings.agent_dir)
        self.client.set_token(None)
        self.sign_in_view.set_busy(False)
        self.sign_in_view.show_message("Your saved sign-in has ended. Please sign in again.")

    # ------------------------------------------------------------------ sign-in
    def show_sign_in(self, message: str | None = None) -> None:
        """The sign-in dialog (with an optional message such as why it is shown again)."""
        self.challenge = None
        self.sign_in_view.reset(message)
        self.show(self.sign_in_view, "Sign in")
        self.sign_in_view.focus_first()

    def submit_sign_in(self, server_url: str, username: str, password: str) -> None:
        """Check the password on a worker thread; the server mails a code."""
        if server_url.rstrip("/") != self.settings.server_url.rstrip("/"):
            if self.agent is not None:
                self.sign_in_view.show_error("Sign out first to use another server.")
                return
            self.settings = dataclasses.replace(self.settings, server_url=server_url.rstrip("/"))
            self.client = self.client_factory(self.settings.server_url)
            log.info("using the server at %s", self.settings.server_url)
        self.sign_in_view.set_busy(True, "Signing in…")
        client = self.client
        self.run_in_background(
            "vinova-sign-in",
            lambda: client.login(username, password),
            lambda challenge: self._code_sent(username, challenge),
            self._sign_in_failed,
        )

    def _sign_in_failed(self, error: Exception) -> None:
        self.sign_in_view.set_busy(False)
        text = sign_in_error_text(error, self.settings.server_url)
        log.warning("sign-in failed: %s", text)
        self.sign_in_view.show_error(text)
        if isinstance(error, AuthError) and error.code == "invalid_credentials":
            self.sign_in_view.clear_password()
            self.sign_in_view.password_entry.focus_set()

    def _code_sent(self, username: str, challenge: Challenge) -> None:
        self.sign_in_view.set_busy(False)
        self.sign_in_view.clear_password()
        self.challenge = challenge
        log.info("a sign-in code was sent to %s", challenge.sent_to)
        self.code_view.start(username, challenge.sent_to, time.monotonic() + self.resend_wait_seconds)
        self.show(self.code_view, "Enter code")
        self.code_view.focus_code()

    def back_to_sign_in(self) -> None:
        """Leave the code dialog for the sign-in dialog."""
        self.show_sign_in()

    def submit_code(self, code: str) -> None:
        """Trade the emailed code for a session on a worker thread."""
        challenge = self.challenge
        if challenge is None:
            self.show_sign_in()
            return
        self.code_view.set_busy(True, "Checking the code…")
        client = self.client
        self.run_in_background(
            "vinova-verify", lambda: client.verify(challenge.challenge_id, code), self._signed_in,
            self._code_failed,
        )

    def _code_failed(self, error: Exception) -> None:
        self.code_view.set_busy(False)
        text = sign_in_error_text(error, self.settings.server_url)
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
        client = self.client

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

        self.run_in_background("vinova-resend", lambda: client.resend(challenge.challenge_id), sent, refused)

    def _signed_in(self, signed_in: SignedIn) -> None:
        self.code_view.set_busy(False)
        self.challenge = None
        save_session(
            self.settings.agent_dir,
            SavedSession(self.settings.server_url, signed_in.username, signed_in.token, signed_in.expires_at),
        )
        log.info("signed in as %s", signed_in.username)
        agent = self.agent
        if agent is not None and agent.username == signed_in.username:
            agent.session_renewed()
            self.show(self.main_view, "Tracking")
            self.refresh_main()
            return
        if agent is not None:
            self.agent = None
            self.run_in_background("vinova-stop", agent.stop, lambda _none: None, lambda _error: None)
        self.start_agent(signed_in.username)

    # ------------------------------------------------------------------ the engine
    def start_agent(self, username: str) -> None:
        """Show the main window, then build and start the engine for ``username`` on a worker thread.

        Building may talk to the server (e.g. the upload prefix), so it stays off the Tk thread.
        """
        self._summaries = MinuteSummaries()
        self._uploaded_total = None
        self.main_view.reset(username, self.settings.server_url)
        self.show(self.main_view, "Starting")
        cancelled = self._start_cancelled = threading.Event()
        settings, client = self.settings, self.client

        def deliver_preview(preview: CapturePreview) -> None:
            self.post(lambda: self.show_preview(preview))

        def start_engine() -> None:
            agent = self.build_agent(settings, client, username, self._session_expired_from_engine)
            if agent.captures is not None:
                attach_capture_preview(agent.captures, self.look.thumbnail_size_px, deliver_preview)
            if cancelled.is_set():  # closed or signed out while the parts were being built
                return
            self.agent = agent  # one reference assignment; the Tk thread reads it on its next refresh
            agent.start()
            try:
                agent.poll_config()
            except VinovaError as exc:
                log.warning("first config poll failed: %s", exc)

        self._starter = self.run_in_background(
            "vinova-start", start_engine, lambda _none: self.refresh_main(),
            lambda error: log.error("the agent could not start: %s", error),
        )

    def _session_expired_from_engine(self) -> None:
        """Called on the scheduler thread when the server refuses our token."""
        self.post(self._session_expired)

    def _session_expired(self) -> None:
        clear_session(self.settings.agent_dir)
        self.show_sign_in("The server ended this session. Sign in again to continue tracking.")

    def toggle_pause(self) -> None:
        """Pause or resume tracking (capture and activity counting)."""
        agent = self.agent
        if agent is None:
            return
        if agent.paused:
            agent.resume()
        else:
            agent.pause()
        self.refresh_main()

    def sign_out(self) -> None:
        """Stop the engine, revoke the token, forget the saved session, back to the sign-in dialog."""
        if self._signing_out:
            return
        self._signing_out = True
        self._start_cancelled.set()
        client = self.client
        self.main_view.set_busy(True)
        starter = self._starter

        def work() -> None:
            if starter is not None:
                starter.join(CLOSE_TIMEOUT_SECONDS)
            agent, self.agent = self.agent, None
            if agent is not None:
                agent.stop(CLOSE_TIMEOUT_SECONDS)
            client.logout()
            clear_session(self.settings.agent_dir)

        def done(_none: None) -> None:
            self._signing_out = False
            self.main_view.set_busy(False)
            log.info("signed out")
            self.show_sign_in("You are signed out.")

        def failed(error: Exception) -> None:
            log.error("sign-out did not finish cleanly: %s", error)
            done(None)

        self.run_in_background("vinova-sign-out", work, done, failed)

    # ------------------------------------------------------------------ main window
    def show_preview(self, preview: CapturePreview) -> None:
        """Show the newest capture as the thumbnail (Tk thread)."""
        self._last_preview_key = preview.key
        self.main_view.show_preview(preview, self._time_of_day(preview.taken_at))

    def refresh_main(self) -> None:
        """Re-read the engine's state into the main window (once a second)."""
        agent = self.agent
        if agent is None or self.closed:
            return
        status = agent.status()
        uploads = agent.uploads.status() if agent.uploads is not None else None
        key, text = describe_status(status, uploads, paused=agent.paused)
        self.main_view.show_status(key, text)
        if self.current_view is self.main_view and key != self._last_status_key:
            self._last_status_key = key
            self.set_title(text.split(" (")[0])
        now = time_manager.utc_now()
        self.main_view.show_clock(time_manager.format_local_and_utc(now, status.config.timezone))
        totals = agent.tracker.today_totals()
        self.main_view.show_today(totals, agent.tracker.current_slot_activity_percent())
        self.main_view.show_uploads(uploads, status.samples_waiting, self._time_of_day)
        self.main_view.show_config(status.config, status.config_changed_at, self._time_of_day)
        self._log_minute_summary(int(now.timestamp() // 60), totals)
        self._log_uploads(uploads)
        captures = agent.captures
        record = getattr(captures, "last_capture", None) if captures is not None else None
        if record is not None and record.key != self._last_preview_key:
            self._last_preview_key = record.key
            self.main_view.show_capture_without_preview(record, self._time_of_day(record.taken_at))

    def _log_minute_summary(self, minute: int, totals: ActivityTotals) -> None:
        delta = self._summaries.update(minute, totals)
        if delta is None or not (delta.active_seconds or delta.keys or delta.clicks or delta.scrolls):
            return
        log.info(
            "last minute: %d s active, %d keys, %d clicks, %d scrolls, %d px of mouse travel",
            delta.active_seconds, delta.keys, delta.clicks, delta.scrolls, delta.mouse_px,
            extra={KIND_ATTRIBUTE: KIND_ACTIVITY},
        )

    def _log_uploads(self, uploads: Any) -> None:
        if uploads is None:
            return
        total = int(uploads.uploaded_total)
        if self._uploaded_total is not None and total > self._uploaded_total:
            log.info(
                "uploaded %d capture(s); %d waiting", total - self._uploaded_total, uploads.waiting,
                extra={KIND_ATTRIBUTE: KIND_UPLOAD},
            )
        self._uploaded_total = total

    # ------------------------------------------------------------------ close
    def close(self) -> None:
        """Stop the engine (within 2 s), detach the log pane and destroy the window. Idempotent."""
        if self._closing:
            return
        self._closing = True
        log.info("closing the window: stopping the agent")
        deadline = time.monotonic() + CLOSE_TIMEOUT_SECONDS
        self._start_cancelled.set()
        if self._starter is not None:
            self._starter.join(max(0.1, deadline - time.monotonic()))
        if self.agent is not None:
            self.agent.stop(max(0.1, deadline - time.monotonic()))
        logging.getLogger().removeHandler(self.log_handler)
        self.closed = True
        for after_id in self._after_ids.values():
            self.root.after_cancel(after_id)
        self._after_ids.clear()
        self.root.destroy()


def ui_scale_from_environment(environ: dict[str, str] | None = None) -> float:
    """The ``VINOVA_UI_SCALE`` factor (e.g. 2 for 200 %), 1.0 when unset or invalid."""
    raw = (environ if environ is not None else dict(os.environ)).get(SCALE_VARIABLE, "").strip()
    if not raw:
        return 1.0
    try:
        value = float(raw.rstrip("%")) / (100.0 if raw.endswith("%") else 1.0)
    except ValueError:
        log.warning("ignoring %s=%r: use a number such as 1.5 or 150%%", SCALE_VARIABLE, raw)
        return 1.0
    return value if 0.5 <= value <= 4.0 else 1.0


def _enable_windows_dpi_awareness() -> None:
    """Without this, Windows bitmap-stretches the window at 150-200 % and text looks blurred."""
    if sys.platform == "win32":
        import ctypes

        try:
            ctypes.windll.shcore.SetProcessDpiAwareness(1)  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            pass


def run_gui(settings: AgentSettings, client: ServerClient, build_agent: AgentBuilder) -> int:
    """Open the window and run until it is closed (Ctrl+Q, the close button, SIGTERM or SIGINT)."""
    _enable_windows_dpi_awareness()
    try:
        root = tk.Tk(className="Vinova")
    except tk.TclError as exc:
        log.error("cannot open a window (%s); start with --headless to sign in on the terminal", exc)
        return EXIT_NO_WINDOW
    look = setup_look(root, ui_scale_from_environment())
    app = VinovaApp(root, settings, client, build_agent, look=look)
    previous: dict[signal.Signals, Any] = {}

    def request_close(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %s: closing", signum)
        app.post(app.close)

    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGTERM, signal.SIGINT):
            previous[number] = signal.signal(number, request_close)
    try:
        app.start()
        root.mainloop()
    finally:
        if not app.closed:
            app.close()
        for number, handler in previous.items():
            signal.signal(number, handler)
    main_thread = threading.main_thread()
    leftover = [t.name for t in threading.enumerate() if t.is_alive() and not t.daemon and t != main_thread]
    if leftover:
        log.warning("threads still running after close: %s", ", ".join(leftover))
    return EXIT_OK

