"""The window's sign-in flow under Xvfb with a fake server client: dialogs, errors, saved sessions, scale.

The engine is the real ``agent.Agent`` (real tracker, outbox and config poller); only the network
behind ``ServerClient`` is faked, so these tests stay fast and exact about sign-in errors.
"""

from __future__ import annotations

import gc
import logging
import stat
import threading
import tkinter as tk
import tkinter.font as tkfont
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from window_support import (
    EXPIRES_AT,
    GOOD_CODE,
    SERVER_URL,
    FakeClient,
    build_test_agent,
    enter_code,
    pump_until,
    sign_in_through_dialogs,
)

from agent.client import ServerClient
from agent.session import SESSION_FILE, SavedSession, load_session, save_session
from agent.settings import AgentSettings
from agent.window import launch
from agent.window.controller import VinovaApp
from agent.window.look import setup_look
from contract.errors import AuthError, SessionExpired, TransientError


@pytest.fixture
def info_logging() -> Iterator[None]:
    root_logger = logging.getLogger()
    level = root_logger.level
    root_logger.setLevel(logging.INFO)
    yield
    root_logger.setLevel(level)


@pytest.fixture
def root(xvfb: Any) -> Iterator[tk.Tk]:
    # Tk objects must be freed on the Tk thread: collect leftovers of earlier tests here, on the
    # main thread, before a collection on an engine thread finalizes them and aborts the process.
    gc.collect()
    window = tk.Tk()
    yield window
    try:
        window.destroy()
    except tk.TclError:
        pass  # the test closed it
    gc.collect()


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
    app: VinovaApp, client: FakeClient, settings: AgentSettings, caplog: pytest.LogCaptureFixture
) -> None:
    save_session(settings.agent_dir, SavedSession(SERVER_URL, "ann", "saved-token", EXPIRES_AT))
    client.whoami_error = TransientError("connection refused")
    app.start()
    pump_until(app.root, lambda: app.current_view is app.main_view and app.agent is not None,
               message="the main window")
    # Started offline on the saved session: kept (not cleared), no sign-in asked, said so in the log.
    assert "starting offline as ann" in caplog.text
    assert load_session(settings.agent_dir, SERVER_URL) is not None
    assert client.token == "saved-token"


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




def test_run_gui_without_a_usable_display_says_so_and_exits(
    monkeypatch: pytest.MonkeyPatch, settings: AgentSettings
) -> None:
    monkeypatch.setenv("DISPLAY", ":9999")  # no X server there
    result = launch.run_gui(settings, cast(ServerClient, FakeClient()), build_test_agent)
    assert result == launch.EXIT_NO_WINDOW
