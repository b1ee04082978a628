"""Fakes and steps shared by the window's tests: a scripted server client, the real engine, Tk pumping."""

from __future__ import annotations

import threading
import tkinter as tk
from collections.abc import Callable
from typing import Any

from support import wait_until

from activity_tracker import ActivityTracker
from agent.adapters.wayland_choice import UncountedInputSource
from agent.client import Challenge, ConfigResponse, ServerClient, SignedIn
from agent.desktop_notes import DesktopNotes
from agent.engine import Agent
from agent.outbox import Outbox
from agent.settings import AgentSettings
from agent.window.controller import VinovaApp
from battery_manager import BatteryMonitor, BatteryPolicy
from config_updater import ConfigPoller
from contract.config_schema import AgentConfig
from contract.errors import AuthError

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


class QuietIdleClock:
    """An idle clock that has seen no input for a long time."""

    def seconds_since_last_input(self) -> float | None:
        return 999.0


def build_wayland_test_agent(
    settings: AgentSettings, client: ServerClient, username: str, on_session_expired: Callable[[], None],
    desktop: DesktopNotes,
) -> Agent:
    """The real engine of a device that cannot count keys (Wayland without evdev), saying ``desktop``."""
    agent_dir = settings.prepare_agent_dir()
    return Agent(
        username=username,
        sender=client,
        tracker=ActivityTracker(idle_threshold_seconds=300, timezone_name="UTC", counted=False),
        input_source=UncountedInputSource(QuietIdleClock()),
        battery=BatteryMonitor(reader=lambda: None, policy=BatteryPolicy(20)),
        outbox=Outbox(agent_dir),
        poller=ConfigPoller(client, agent_dir / "config.json"),
        on_session_expired=on_session_expired,
        desktop=desktop,
    )


def pump_until(root: tk.Tk, predicate: Callable[[], Any], timeout: float = 10.0, message: str = "") -> Any:
    """Run the Tk loop until ``predicate`` holds (bounded)."""

    def step() -> Any:
        root.update()
        return predicate()

    return wait_until(step, timeout, interval=0.02, message=message)



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


