"""The window's logic: dialogs, main window, log pane, close — under Xvfb, with a fake server client.

The engine is the real ``agent.Agent`` (real tracker, outbox and config poller); only the network
behind ``ServerClient`` is faked, so these tests stay fast and exact about sign-in errors.
"""

from __future__ import annotations

import logging
import stat
import threading
import time
import tkinter as tk
import tkinter.font as tkfont
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from PIL import Image
from support import wait_until

from activity_tracker import ActivityTotals, ActivityTracker
from agent.client import Challenge, ConfigResponse, ServerClient, SignedIn
from agent.engine import Agent, AgentSettings, AgentStatus
from agent.outbox import Outbox
from agent.session import SESSION_FILE, SavedSession, load_session, save_session
from agent.window import controller as main_window
from agent.window import views as window_views
from agent.window.controller import (
    MinuteSummaries,
    VinovaApp,
    sign_in_error_text,
    ui_scale_from_environment,
    wait_text,
)
from agent.window.log_pane import (
    KIND_CAPTURE,
    KIND_ERROR,
    KIND_WARNING,
    LogLine,
    LogPane,
    QueueLogHandler,
    kind_of,
)
from agent.window.views import (
    attach_capture_preview,
    describe_status,
    format_duration,
    format_interval,
    setup_look,
)
from battery_manager import BatteryMonitor, BatteryPolicy, BatteryReading
from config_updater import ConfigPoller
from contract.config_schema import AgentConfig
from contract.errors import AuthError, SessionExpired, TransientError

SERVER_URL = "http://vinova.test:5000"
GOOD_PASSWORD = "correct horse"
GOOD_CODE = "123456"
EXPIRES_AT = "2026-12-25T00:00:00+00:00"


# --------------------------------------------------------------------------- fakes
class FakeClient:
    """Answers like ServerClient; errors are queued per call to script each scenario."""

    def __init__(self) -> None:
        self.token: str | None = None
        self.login_errors: list[Exception] = []
        self.verify_errors: list[Exception] = []
        self.resend_errors: list[Exception] = []
        self.whoami_error: Exception | None = None
        self.login_gate: threading.Event | None = None
        self.config: dict[str, Any] = AgentConfig().as_dict() | {"version": 1}
        self.calls: list[str] = []
        self.logged_out = False

    def set_token(self, token: str | None) -> None:
        self.token = token

    def login(self, username: str, password: str) -> Challenge:
        self.calls.append("login")
        if self.login_gate is not None:
            self.login_gate.wait(10)
        if self.login_errors:
            raise self.login_errors.pop(0)
        if password != GOOD_PASSWORD:
            raise AuthError("invalid username or password", code="invalid_credentials")
        return Challenge("challenge-1", "a***@example.com")

    def verify(self, challenge_id: str, code: str) -> SignedIn:
        self.calls.append("verify")
        if self.verify_errors:
            raise self.verify_errors.pop(0)
        if code != GOOD_CODE:
            raise AuthError("wrong code", code="invalid_code")
        self.token = "token-1"
        return SignedIn("token-1", "ann", False, "2026-12-25T00:00:00+00:00")

    def resend(self, challenge_id: str) -> Challenge:
        self.calls.append("resend")
        if self.resend_errors:
            raise self.resend_errors.pop(0)
        return Challenge(challenge_id, "a***@example.com")

    def logout(self) -> None:
        self.calls.append("logout")
        self.logged_out = True
        self.token = None

    def whoami(self) -> dict[str, Any]:
        self.calls.append("whoami")
        if self.whoami_error is not None:
            raise self.whoami_error
        return {"username": "ann"}

    def get_config(self, etag: str | None) -> ConfigResponse:
        return ConfigResponse(dict(self.config), f'"{self.config["version"]}"')

    def post_activity(self, samples: list[dict[str, Any]]) -> int:
        return len(samples)


def build_test_agent(
    settings: AgentSettings, client: ServerClient, username: str, on_session_expired: Callable[[], None]
) -> Agent:
    """The real engine with no input listeners, no battery and no captures."""
    agent_dir = settings.prepare_agent_dir()
    holder: dict[str, Agent] = {}
    poller = ConfigPoller(client, agent_dir / "config.json",
                          on_change=lambda config, changes: holder["agent"].on_config_change(config, changes))
    agent = Agent(
        username=username,
        sender=client,
        tracker=ActivityTracker(idle_threshold_seconds=300, timezone_name="UTC"),
        input_source=None,
        battery=BatteryMonitor(reader=lambda: None, policy=BatteryPolicy(20)),
        outbox=Outbox(agent_dir),
        poller=poller,
        on_session_expired=on_session_expired,
    )
    holder["agent"] = agent
    return agent


def pump_until(root: tk.Tk, predicate: Callable[[], Any], timeout: float = 10.0, message: str = "") -> Any:
    """Run the Tk loop until ``predicate`` holds (bounded)."""

    def step() -> Any:
        root.update()
        return predicate()

    return wait_until(step, timeout, interval=0.02, message=message)


@pytest.fixture
def info_logging() -> Iterator[None]:
    root_logger = logging.getLogger()
    level = root_logger.level
    root_logger.setLevel(logging.INFO)
    yield
    root_logger.setLevel(level)


@pytest.fixture
def root(xvfb: Any) -> Iterator[tk.Tk]:
    window = tk.Tk()
    yield window
    try:
        window.destroy()
    except tk.TclError:
        pass  # the test closed it


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


@pytest.fixture
def settings(tmp_path: Path) -> AgentSettings:
    return AgentSettings(server_url=SERVER_URL, agent_dir=tmp_path / "agent")


@pytest.fixture
def app(root: tk.Tk, settings: AgentSettings, client: FakeClient, info_logging: None) -> Iterator[VinovaApp]:
    application = VinovaApp(
        root, settings, cast(ServerClient, client), build_test_agent,
        look=setup_look(root, 1.0), client_factory=lambda url: cast(ServerClient, client),
    )
    yield application
    if not application.closed:
        application.close()


def sign_in_through_dialogs(app: VinovaApp, password: str = GOOD_PASSWORD) -> None:
    view = app.sign_in_view
    view.username.set("ann")
    view.password.set(password)
    view.password_entry.focus_force()  # Tk delivers key events to the focused widget only
    app.root.update()
    view.password_entry.event_generate("<Return>")


def enter_code(app: VinovaApp, code: str) -> None:
    app.code_view.entry.delete(0, "end")
    app.code_view.entry.insert(0, code)
    app.code_view.verify_button.invoke()


def reach_tracking(app: VinovaApp) -> None:
    app.start()
    sign_in_through_dialogs(app)
    pump_until(app.root, lambda: app.current_view is app.code_view, message="the code dialog")
    enter_code(app, GOOD_CODE)
    pump_until(app.root, lambda: app.root.title() == "Vinova — Tracking", message="Tracking")


# --------------------------------------------------------------------------- words (no display)
def test_sign_in_errors_are_plain_words() -> None:
    wrong = sign_in_error_text(AuthError("x", code="invalid_credentials"), SERVER_URL)
    assert wrong == "Wrong username or password."
    locked = sign_in_error_text(AuthError("x", code="too_many_attempts", retry_after_seconds=250), SERVER_URL)
    assert "locked" in locked and "4 min 10 s" in locked
    assert SERVER_URL in sign_in_error_text(TransientError("down"), SERVER_URL)
    assert "expired" in sign_in_error_text(AuthError("x", code="code_expired"), SERVER_URL)
    assert "already used" in sign_in_error_text(AuthError("x", code="code_used"), SERVER_URL)
    assert wait_text(None) == "a little while" and wait_text(60) == "1 min" and wait_text(5) == "5 s"


def test_durations_and_intervals_read_naturally() -> None:
    assert format_duration(41) == "41 s"
    assert format_duration(725) == "12 min 05 s"
    assert format_duration(3720) == "1 h 02 min"
    assert format_interval(300) == "5 min" and format_interval(90) == "90 s"
    assert format_interval(7200) == "2 h"


def _status(state: str = "tracking", **changes: Any) -> AgentStatus:
    values: dict[str, Any] = {
        "state": state, "offline": False, "samples_waiting": 0, "config": AgentConfig(),
        "config_changed_at": None, "battery": None, "session_expired": False,
    }
    values.update(changes)
    return AgentStatus(**values)


class _Uploads:
    def __init__(self, waiting: int = 0, offline: bool = False) -> None:
        self.waiting, self.offline, self.session_expired = waiting, offline, False


def test_status_badge_names_each_state() -> None:
    assert describe_status(_status(), None, paused=False) == ("tracking", "Tracking")
    assert describe_status(_status("idle"), None, paused=False) == ("idle", "Idle")
    assert describe_status(_status(), None, paused=True) == ("paused", "Paused")
    battery = BatteryReading(18.0, plugged_in=False)
    assert describe_status(_status("suspended", battery=battery), None, paused=False) == (
        "suspended", "Suspended (battery 18 %)")
    offline = describe_status(_status(samples_waiting=2), _Uploads(waiting=3, offline=True), paused=False)
    assert offline == ("offline", "Offline (5 waiting)")
    assert describe_status(_status(session_expired=True), None, paused=False)[0] == "signed_out"


def test_minute_summaries_report_each_minute_once_and_restart_at_midnight() -> None:
    summaries = MinuteSummaries()
    assert summaries.update(100, ActivityTotals(10, 5, 1, 0, 30)) is None
    assert summaries.update(100, ActivityTotals(20, 9, 1, 0, 40)) is None
    assert summaries.update(101, ActivityTotals(25, 12, 2, 1, 50)) == ActivityTotals(15, 7, 1, 1, 20)
    assert summaries.update(102, ActivityTotals(3, 1, 0, 0, 0)) == ActivityTotals(3, 1, 0, 0, 0)


def test_ui_scale_comes_from_the_environment() -> None:
    assert ui_scale_from_environment({}) == 1.0
    assert ui_scale_from_environment({"VINOVA_UI_SCALE": "2"}) == 2.0
    assert ui_scale_from_environment({"VINOVA_UI_SCALE": "150%"}) == 1.5
    assert ui_scale_from_environment({"VINOVA_UI_SCALE": "huge"}) == 1.0


def test_log_kinds_follow_level_then_module() -> None:
    def record(name: str, level: int, **extra: Any) -> logging.LogRecord:
        item = logging.LogRecord(name, level, __file__, 1, "message", None, None)
        item.__dict__.update(extra)
        return item

    assert kind_of(record("screenshot_manager", logging.INFO)) == KIND_CAPTURE
    assert kind_of(record("screenshot_manager", logging.WARNING)) == KIND_WARNING
    assert kind_of(record("upload_queue", logging.ERROR)) == KIND_ERROR
    assert kind_of(record("main_window", logging.INFO, vinova_kind="activity")) == "activity"


# --------------------------------------------------------------------------- dialogs
@pytest.mark.integration
def test_wrong_password_is_said_in_plain_words(app: VinovaApp) -> None:
    app.start()
    assert app.root.title() == "Vinova — Sign in"
    sign_in_through_dialogs(app, password="wrong")
    pump_until(app.root, lambda: app.sign_in_view.message.get(), message="an error message")
    assert app.sign_in_view.message.get() == "Wrong username or password."
    assert app.current_view is app.sign_in_view
    assert str(app.sign_in_view.button.cget("state")) == "normal"


@pytest.mark.integration
def test_server_down_and_locked_account_are_explained(app: VinovaApp, client: FakeClient) -> None:
    app.start()
    client.login_errors = [TransientError("connection refused"),
                           AuthError("locked", code="too_many_attempts", retry_after_seconds=300)]
    sign_in_through_dialogs(app)
    pump_until(app.root, lambda: "Cannot reach" in app.sign_in_view.message.get(), message="unreachable")
    assert SERVER_URL in app.sign_in_view.message.get()
    sign_in_through_dialogs(app)
    pump_until(app.root, lambda: "locked" in app.sign_in_view.message.get(), message="locked")
    assert "5 min" in app.sign_in_view.message.get()


@pytest.mark.integration
def test_sign_in_shows_a_busy_state_while_the_server_thinks(app: VinovaApp, client: FakeClient) -> None:
    app.start()
    client.login_gate = threading.Event()
    sign_in_through_dialogs(app)
    app.root.update()
    view = app.sign_in_view
    assert str(view.button.cget("state")) == "disabled" and view.button.cget("text") == "Signing in…"
    assert str(view.password_entry.cget("state")) == "disabled"
    view.submit()  # pressing Enter again does not send a second login
    client.login_gate.set()
    pump_until(app.root, lambda: app.current_view is app.code_view, message="the code dialog")
    assert client.calls.count("login") == 1


@pytest.mark.integration
def test_code_dialog_names_the_address_counts_down_and_explains_bad_codes(
    app: VinovaApp, client: FakeClient, settings: AgentSettings
) -> None:
    app.start()
    sign_in_through_dialogs(app)
    pump_until(app.root, lambda: app.current_view is app.code_view, message="the code dialog")
    view = app.code_view
    assert app.root.title() == "Vinova — Enter code"
    assert "We sent a 6-digit code to a***@example.com" in view.sent_text.get()
    pump_until(app.root, lambda: "s)" in str(view.resend_button.cget("text")), message="the countdown")
    assert str(view.resend_button.cget("state")) == "disabled"
    view.entry.insert(0, "123 45a67")
    assert view.code.get() == "123456", "the field keeps six digits of a pasted code"
    enter_code(app, "000000")
    pump_until(app.root, lambda: view.message.get(), message="wrong code")
    assert view.message.get().startswith("That code is not right")
    client.verify_errors = [AuthError("x", code="code_expired")]
    enter_code(app, GOOD_CODE)
    pump_until(app.root, lambda: "expired" in view.message.get(), message="expired code")
    client.verify_errors = [AuthError("x", code="code_used")]
    enter_code(app, GOOD_CODE)
    pump_until(app.root, lambda: "already used" in view.message.get(), message="used code")
    enter_code(app, GOOD_CODE)
    pump_until(app.root, lambda: app.root.title() == "Vinova — Tracking", message="Tracking")
    saved = load_session(settings.agent_dir, SERVER_URL)
    assert saved is not None and saved.username == "ann" and saved.token == "token-1"
    assert stat.S_IMODE((settings.agent_dir / SESSION_FILE).stat().st_mode) == 0o600


@pytest.mark.integration
def test_resend_waits_for_its_countdown_then_sends_a_new_code(
    root: tk.Tk, settings: AgentSettings, client: FakeClient, info_logging: None
) -> None:
    app = VinovaApp(root, settings, cast(ServerClient, client), build_test_agent, resend_wait_seconds=1)
    try:
        app.start()
        sign_in_through_dialogs(app)
        pump_until(root, lambda: app.current_view is app.code_view, message="the code dialog")
        button = app.code_view.resend_button
        pump_until(root, lambda: str(button.cget("state")) == "normal", timeout=5, message="Resend enabled")
        button.invoke()
        pump_until(root, lambda: "new code" in app.code_view.message.get(), message="resent")
        assert client.calls.count("resend") == 1
        assert str(button.cget("state")) == "disabled"
    finally:
        app.close()


@pytest.mark.integration
def test_too_many_wrong_codes_send_the_user_back_to_sign_in(app: VinovaApp, client: FakeClient) -> None:
    app.start()
    sign_in_through_dialogs(app)
    pump_until(app.root, lambda: app.current_view is app.code_view, message="the code dialog")
    client.verify_errors = [AuthError("x", code="challenge_locked")]
    enter_code(app, "999999")
    pump_until(app.root, lambda: app.current_view is app.sign_in_view, message="back to sign-in")
    assert "Too many wrong codes" in app.sign_in_view.message.get()


@pytest.mark.integration
def test_a_saved_valid_token_skips_both_dialogs(
    app: VinovaApp, client: FakeClient, settings: AgentSettings
) -> None:
    save_session(settings.agent_dir, SavedSession(SERVER_URL, "ann", "saved-token", EXPIRES_AT))
    app.start()
    pump_until(app.root, lambda: app.root.title() == "Vinova — Tracking", message="Tracking")
    assert client.token == "saved-token" and "login" not in client.calls
    assert app.agent is not None and app.agent.username == "ann"


@pytest.mark.integration
def test_a_refused_saved_token_asks_for_sign_in(
    app: VinovaApp, client: FakeClient, settings: AgentSettings
) -> None:
    save_session(settings.agent_dir, SavedSession(SERVER_URL, "ann", "old-token", EXPIRES_AT))
    client.whoami_error = SessionExpired()
    app.start()
    pump_until(app.root, lambda: "has ended" in app.sign_in_view.message.get(), message="session ended")
    assert load_session(settings.agent_dir, SERVER_URL) is None and app.agent is None


@pytest.mark.integration
def test_a_saved_token_starts_offline_when_the_server_is_down(
    app: VinovaApp, client: FakeClient, settings: AgentSettings
) -> None:
    save_session(settings.agent_dir, SavedSession(SERVER_URL, "ann", "saved-token", EXPIRES_AT))
    client.whoami_error = TransientError("connection refused")
    app.start()
    pump_until(app.root, lambda: app.current_view is app.main_view and app.agent is not None,
               message="the main window")


# --------------------------------------------------------------------------- main window
@pytest.mark.integration
def test_main_window_shows_counts_config_changes_and_pause(app: VinovaApp, client: FakeClient) -> None:
    reach_tracking(app)
    agent = app.agent
    assert agent is not None
    for _ in range(7):
        agent.tracker.on_key_press()
    agent.tracker.on_click()
    pump_until(app.root, lambda: app.main_view.keys_today.get() == "7", message="7 keys")
    assert app.main_view.clicks_today.get() == "1"
    assert "UTC" in app.main_view.clock.get()
    assert app.main_view.config_values["Screenshots every"].get() == "5 min"

    client.config = client.config | {"screenshot_interval": 60, "blur_screenshots": True, "version": 2}
    agent.poll_config()
    pump_until(app.root, lambda: app.main_view.config_values["Screenshots every"].get() == "1 min",
               message="the config panel")
    assert app.main_view.config_values["Blur"].get() == "on"
    assert app.main_view.config_changed.get() != "not yet"
    pump_until(app.root, lambda: any("config changed" in line for line in app.log_pane.lines_text()),
               message="the config log line")

    app.main_view.pause_button.invoke()
    pump_until(app.root, lambda: app.root.title() == "Vinova — Paused", message="Paused")
    assert agent.paused and app.main_view.pause_button.cget("text") == "Resume"
    app.main_view.pause_button.invoke()
    pump_until(app.root, lambda: app.root.title() == "Vinova — Tracking", message="Tracking again")
    pump_until(app.root, lambda: any("resumed by the user" in line for line in app.log_pane.lines_text()),
               message="the resume log line")
    assert any("paused by the user" in line for line in app.log_pane.lines_text())


@pytest.mark.integration
def test_sign_out_stops_the_agent_revokes_the_token_and_returns_to_sign_in(
    app: VinovaApp, client: FakeClient, settings: AgentSettings
) -> None:
    reach_tracking(app)
    agent = app.agent
    assert agent is not None
    app.main_view.sign_out_button.invoke()
    pump_until(app.root, lambda: app.current_view is app.sign_in_view, message="the sign-in dialog")
    assert client.logged_out and app.agent is None
    assert load_session(settings.agent_dir, SERVER_URL) is None
    assert agent.wait(0), "the agent was stopped"
    assert app.sign_in_view.message.get() == "You are signed out."


@pytest.mark.integration
def test_session_ended_by_the_server_asks_to_sign_in_and_keeps_the_same_agent(app: VinovaApp) -> None:
    reach_tracking(app)
    agent = app.agent
    assert agent is not None
    agent._handle_session_expired()  # what the scheduler thread does on a 401
    pump_until(app.root, lambda: app.current_view is app.sign_in_view, message="sign-in again")
    assert "ended this session" in app.sign_in_view.message.get()
    sign_in_through_dialogs(app)
    pump_until(app.root, lambda: app.current_view is app.code_view, message="the code dialog")
    enter_code(app, GOOD_CODE)
    pump_until(app.root, lambda: app.root.title() == "Vinova — Tracking", message="Tracking")
    assert app.agent is agent and not agent.session_expired


@pytest.mark.integration
def test_closing_the_window_stops_everything_within_two_seconds(app: VinovaApp) -> None:
    before = {thread.ident for thread in threading.enumerate()}
    reach_tracking(app)
    agent = app.agent
    assert agent is not None
    pump_until(app.root, lambda: app._starter is not None and not app._starter.is_alive(), message="started")
    close_command = app.root.protocol("WM_DELETE_WINDOW")
    started = time.monotonic()
    app.root.tk.call(close_command)  # what the window manager's close button does
    elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert app.closed and agent.wait(0)
    with pytest.raises(tk.TclError):
        app.root.winfo_exists()
    wait_until(lambda: not [t for t in threading.enumerate() if t.ident not in before and t.is_alive()],
               timeout=3, message="every thread to end")
    assert app.log_handler not in logging.getLogger().handlers


# --------------------------------------------------------------------------- log pane
def _line(number: int, kind: str = "agent") -> LogLine:
    return LogLine(datetime(2026, 11, 25, 18, 0, tzinfo=UTC), logging.INFO, kind, f"line {number}")


@pytest.mark.integration
def test_log_pane_caps_its_lines_and_colours_them_by_kind(root: tk.Tk) -> None:
    pane = LogPane(root, max_lines=50)
    pane.pack(fill="both", expand=True)
    pane.append(_line(number, "capture" if number % 2 else "upload") for number in range(1, 121))
    root.update()
    lines = pane.lines_text()
    assert pane.line_count == 50 and len(lines) == 50
    assert lines[0].endswith("line 71") and lines[-1].endswith("line 120")
    assert pane.kinds_of_last(2) == ["capture", "upload"]
    assert pane.text.tag_cget("capture", "foreground") != pane.text.tag_cget("upload", "foreground")


@pytest.mark.integration
def test_log_pane_follows_new_lines_unless_the_user_scrolled_up(root: tk.Tk) -> None:
    pane = LogPane(root)
    pane.pack(fill="both", expand=True)
    root.geometry("600x200")
    pane.append(_line(number) for number in range(200))
    root.update()
    assert pane.at_bottom()
    pane.text.yview_moveto(0.2)
    root.update()
    pane.append([_line(999)])
    root.update()
    assert not pane.at_bottom() and pane.text.yview()[0] == pytest.approx(0.2, abs=0.02)
    pane.text.yview_moveto(1.0)
    root.update()
    pane.append([_line(1000)])
    root.update()
    assert pane.at_bottom()


@pytest.mark.integration
def test_records_logged_on_other_threads_reach_the_pane_through_the_queue(root: tk.Tk) -> None:
    handler = QueueLogHandler()
    logger = logging.getLogger("screenshot_manager.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        thread = threading.Thread(target=lambda: logger.info("screenshot taken: %s", "key.jpg"))
        thread.start()
        thread.join()
    finally:
        logger.removeHandler(handler)
    pane = LogPane(root)
    assert pane.drain(handler) == 1
    assert pane.lines_text()[0].endswith("screenshot taken: key.jpg")
    assert pane.kinds_of_last(1) == [KIND_CAPTURE]


# --------------------------------------------------------------------------- thumbnails and scaling
class _Record:
    def __init__(self, path: Path) -> None:
        self.key, self.path, self.taken_at = "ann/2026/11/25/180000Z-abc.jpg", path, datetime.now(UTC)
        self.blurred, self.width, self.height, self.size_bytes = True, 1920, 1080, path.stat().st_size


class _Store:
    def __init__(self, record: _Record) -> None:
        self.record = record

    def get(self, capture_id: int) -> _Record:
        return self.record


class _Captures:
    def __init__(self, store: _Store) -> None:
        self.store = store
        self.forwarded: list[int] = []
        self.enqueue: Callable[[int], None] = self.forwarded.append


@pytest.mark.integration
def test_the_thumbnail_is_made_from_the_spooled_file_before_upload_deletes_it(
    app: VinovaApp, tmp_path: Path
) -> None:
    path = tmp_path / "capture.jpg"
    Image.new("RGB", (1920, 1080), "#3366cc").save(path, "JPEG")
    captures = _Captures(_Store(_Record(path)))
    previews: list[window_views.CapturePreview] = []
    assert attach_capture_preview(captures, (200, 112), previews.append)
    captures.enqueue(7)
    assert captures.forwarded == [7] and len(previews) == 1
    assert previews[0].image.size == (199, 112) or previews[0].image.size[0] <= 200
    app.start()
    app.show_preview(previews[0])
    app.root.update()
    assert "blurred" in app.main_view.capture_caption.get()
    assert app.main_view.thumbnail.cget("image") != str(app.main_view._placeholder)


@pytest.mark.integration
def test_ui_scale_two_doubles_text_and_spacing(xvfb: Any) -> None:
    sizes = {}
    for scale in (1.0, 2.0):
        window = tk.Tk()
        try:
            look = setup_look(window, scale)
            font = tkfont.nametofont("TkDefaultFont", root=window)
            sizes[scale] = (font.metrics("linespace"), look.px(10))
        finally:
            window.destroy()
    assert sizes[2.0][0] >= 1.8 * sizes[1.0][0]
    assert sizes[2.0][1] == pytest.approx(2 * sizes[1.0][1], abs=1)


@pytest.mark.integration
def test_a_failing_window_update_does_not_stop_the_event_drain(app: VinovaApp) -> None:
    app.start()
    seen: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    app.post(broken)
    app.post(lambda: seen.append("after"))
    pump_until(app.root, lambda: seen == ["after"], message="the event after the failing one")
    pump_until(app.root, lambda: any("a window update failed" in line for line in app.log_pane.lines_text()),
               message="the failure in the log pane")


def test_run_gui_without_a_usable_display_says_so_and_exits(
    monkeypatch: pytest.MonkeyPatch, settings: AgentSettings
) -> None:
    monkeypatch.setenv("DISPLAY", ":9999")  # no X server there
    result = main_window.run_gui(settings, cast(ServerClient, FakeClient()), build_test_agent)
    assert result == main_window.EXIT_NO_WINDOW
