"""The window's controller: it steers the views (sign-in → code → main), the engine and close.

Threads: only the Tk (main) thread touches widgets. Sign-in calls, starting and stopping the
engine run on short-lived worker threads; they and the engine's event handlers post callables to
``VinovaApp.events`` (a ``queue.Queue``), which the Tk thread drains every 250 ms with
``after()``. Log records reach the pane through :class:`log_pane.QueueLogHandler` the same way.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
import tkinter as tk
from collections.abc import Callable
from datetime import datetime
from tkinter import ttk
from types import TracebackType
from typing import TypeVar

import time_manager
from agent.client import ServerClient
from agent.engine import Agent
from agent.events import Captured, ConfigApplied, Returned, Uploaded
from agent.session import clear_session
from agent.settings import AgentSettings
from agent.window.employee_side import EmployeeSide
from agent.window.forwarding import forward_events
from agent.window.keeper import WindowKeeper
from agent.window.log_pane import LogPane, QueueLogHandler
from agent.window.look import Look, setup_look
from agent.window.main_view import MainView
from agent.window.presenter import MainPresenter
from agent.window.sign_in import RESEND_WAIT_SECONDS, SignInFlow
from agent.window.tray import TrayFactory, start_tray
from contract.errors import VinovaError

log = logging.getLogger(__name__)

T = TypeVar("T")
AgentBuilder = Callable[[AgentSettings, ServerClient, str, Callable[[], None]], Agent]
ClientFactory = Callable[[str], ServerClient]

TICK_MS = 250  # measured: a 100 ms tick alone costs ~0.25 % of a core, 250 ms ~0.11 %
REFRESH_MS = 1000
EVENTS_PER_TICK = 200
CLOSE_TIMEOUT_SECONDS = 2.0


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
        tray_factory: TrayFactory = start_tray,
    ) -> None:
        self.root = root
        self.settings = settings
        self.client = client
        self.build_agent = build_agent
        self.client_factory = client_factory
        self.look = look or setup_look(root, 1.0)
        self.events: queue.Queue[Callable[[], None]] = queue.Queue()
        self.log_handler = log_handler or QueueLogHandler()
        self.agent: Agent | None = None
        self.closed = False
        self._closing = False
        self._after_ids: dict[str, str] = {}
        self._starter: threading.Thread | None = None
        self._start_cancelled = threading.Event()
        self._unsubscribe: Callable[[], None] = _nothing
        self._signing_out = False

        root.title("Vinova")
        # The close button hides the window to the tray (or minimises it): tracking goes on (issue 13).
        self.keeper = WindowKeeper(
            root, self.look, post=self.post, agent_dir=settings.agent_dir, toggle_pause=self.toggle_pause,
            sign_out=self.sign_out, quit_now=self.close, tray_factory=tray_factory,
            signed_in=lambda: self.agent is not None and self.current_view is self.main_view)
        root.protocol("WM_DELETE_WINDOW", self.keeper.close_requested)
        root.bind("<Map>", self._mapped, add="+")
        root.bind_all("<Control-q>", lambda _event: self.close())
        # Alt+P and Alt+S press the underlined Pause/Resume and Sign out buttons of the main window.
        root.bind_all("<Alt-p>", lambda _event: self._main_shortcut(self.toggle_pause))
        root.bind_all("<Alt-s>", lambda _event: self._main_shortcut(self.sign_out))
        root.report_callback_exception = self._report_callback_exception
        root.columnconfigure(0, weight=1)
        root.rowconfigure(0, weight=1)
        self.sign_in_flow = SignInFlow(root, self.look, self, resend_wait_seconds=resend_wait_seconds)
        self.sign_in_view = self.sign_in_flow.sign_in_view
        self.code_view = self.sign_in_flow.code_view
        self.main_view = MainView(
            root, self.look, on_pause_toggle=self.toggle_pause, on_sign_out=self.sign_out,
            time_text=self._time_of_day, on_retry_kept_aside=self.retry_kept_aside,
        )
        self.log_pane: LogPane = self.main_view.log_pane
        self.presenter = MainPresenter(
            self.main_view, thumbnail_size_px=self.look.thumbnail_size_px, time_text=self._time_of_day,
            set_title=self.set_title, is_shown=lambda: self.current_view is self.main_view,
            show_tray_state=self.keeper.show_state,
        )
        # The capture notice, the question after idle, the held-back list, the policy line (issue 12).
        self.employee_side = EmployeeSide(
            root, self.look, self.main_view.employee_area, time_text=self._time_of_day,
            client=lambda: self.client, run_in_background=self.run_in_background)
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

    def _report_callback_exception(self, kind: type[BaseException], error: BaseException,
                                   tb: TracebackType | None) -> None:
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
                self.keeper.show_state("signed_out", title, False)  # the tray: not tracking
        self.set_title(title)

    def set_title(self, title: str) -> None:
        """The window title; tests and screen readers find the window and its state by it."""
        self.root.title(f"Vinova — {title}")

    # ------------------------------------------------------------------ start and sign-in
    def start(self) -> None:
        """Attach the log pane, start the timers, then reuse a saved session or ask to sign in."""
        logging.getLogger().addHandler(self.log_handler)
        self._schedule("tick", TICK_MS, self._tick)
        self._schedule("second", REFRESH_MS, self._every_second)
        self.keeper.start()
        self.sign_in_flow.begin()

    def show_sign_in(self, message: str | None = None) -> None:
        """The sign-in dialog (with an optional message such as why it is shown again)."""
        self.sign_in_flow.show_sign_in(message)

    def use_server(self, server_url: str) -> bool:
        """Switch to another server for the next sign-in; refused while an engine runs."""
        if self.agent is not None:
            return False
        self.settings = dataclasses.replace(self.settings, server_url=server_url)
        self.client = self.client_factory(server_url)
        log.info("using the server at %s", server_url)
        return True

    def signed_in(self, username: str) -> None:
        """After a code was accepted: the same user's engine continues, anyone else's is replaced."""
        agent = self.agent
        if agent is not None and agent.username == username:
            agent.session_renewed()
            self.show(self.main_view, "Tracking")
            self.refresh_main()
            return
        if agent is not None:
            self.agent = None
            self._unsubscribe()
            self.run_in_background("vinova-stop", agent.stop, lambda _none: None, lambda _error: None)
        self.start_agent(username)

    # ------------------------------------------------------------------ the engine
    def start_agent(self, username: str) -> None:
        """Show the main window, then build and start the engine for ``username`` on a worker thread.

        Building may talk to the server (e.g. the upload prefix), so it stays off the Tk thread.
        """
        self.presenter.reset(username, self.settings.server_url)
        self.show(self.main_view, "Starting")
        cancelled = self._start_cancelled = threading.Event()
        settings, client = self.settings, self.client

        def start_engine() -> None:
            agent = self.build_agent(settings, client, username, self._session_expired_from_engine)
            if cancelled.is_set():  # closed or signed out while the parts were being built
                return
            self._unsubscribe = self._subscribe(agent)
            self.agent = agent  # one reference assignment; the Tk thread reads it on its next refresh
            agent.start()
            try:
                agent.poll_config()
            except VinovaError as exc:
                log.warning("first config poll failed: %s", exc)

        self._starter = self.run_in_background(
            "vinova-start", start_engine, lambda _none: self._engine_started(),
            lambda error: log.error("the agent could not start: %s", error),
        )

    def _subscribe(self, agent: Agent) -> Callable[[], None]:
        """Hand ``agent``'s events to the Tk thread (weakly: agent.window.forwarding says why)."""
        return forward_events(self, agent, self.events, (
            (Captured, VinovaApp._captured), (Uploaded, VinovaApp._uploaded),
            (ConfigApplied, VinovaApp._config_applied), (Returned, VinovaApp._returned)))

    def _engine_started(self) -> None:
        agent = self.agent
        if agent is not None:
            self.presenter.config_applied(agent)
        self.refresh_main()

    def _captured(self, agent: Agent, event: Captured) -> None:
        if agent is self.agent:  # not an event of an engine that was signed out meanwhile
            self.presenter.log_capture(event)
            self.presenter.captured(event)
            self.employee_side.captured(agent, event)

    def _returned(self, agent: Agent, event: Returned) -> None:
        if agent is self.agent:
            self.employee_side.returned(agent, event)

    def _uploaded(self, agent: Agent, event: Uploaded) -> None:
        if agent is self.agent:
            self.presenter.uploaded(agent, event)

    def _config_applied(self, agent: Agent, _event: ConfigApplied) -> None:
        if agent is self.agent:
            self.presenter.config_applied(agent)

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

    def retry_kept_aside(self) -> None:
        """Queue every kept-aside capture again (the uploads card's Retry button)."""
        if self.agent is not None and not self.closed:
            self.presenter.retry_kept_aside(self.agent)

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
            self._unsubscribe()
            if agent is not None:
                agent.stop(CLOSE_TIMEOUT_SECONDS)
            client.logout()
            clear_session(self.settings.agent_dir)

        def done(_none: None) -> None:
            self._signing_out = False
            self.employee_side.close()
            self.main_view.set_busy(False)
            log.info("signed out")
            self.show_sign_in("You are signed out.")

        def failed(error: Exception) -> None:
            log.error("sign-out did not finish cleanly: %s", error)
            done(None)

        self.run_in_background("vinova-sign-out", work, done, failed)

    def refresh_main(self) -> None:
        """Re-read the engine's state into the main window (once a second)."""
        agent = self.agent
        if agent is None or self.closed:
            return
        visible = self.root.state() == "normal"  # withdrawn to the tray or iconified: no widget work
        self.presenter.refresh(agent, visible=visible)
        if visible:
            self.employee_side.refresh(agent)

    def _mapped(self, event: tk.Event[tk.Misc]) -> None:
        """The window is shown again (tray, another start, de-iconified): fill it at once."""
        if event.widget is self.root and self.current_view is self.main_view:
            self.refresh_main()

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
        self._unsubscribe()
        if self.agent is not None:
            self.agent.stop(max(0.1, deadline - time.monotonic()))
        logging.getLogger().removeHandler(self.log_handler)
        self.keeper.stop()
        self.employee_side.close()
        self.closed = True
        for after_id in self._after_ids.values():
            self.root.after_cancel(after_id)
        self._after_ids.clear()
        self.root.destroy()


def _nothing() -> None:
    """The unsubscribe of no subscription."""
