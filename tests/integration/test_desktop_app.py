"""The real desktop app (``main.py`` without --headless) under Xvfb against a real server.

The server runs in this process (SQLite, mail to aiosmtpd); the app is a subprocess driven only
the way a person would: xdotool finds its window by title and types into it. What the app does
is read back from its window title (its state), its log file and the server's database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from server_support import add_user, bearer, latest_code, make_app, sign_in, smtp_settings
from support import free_port, live_server, wait_until

pytestmark = pytest.mark.integration

PROJECT_DIR = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
BOSS_EMAIL = "boss@example.com"
# The capture checks switch on once main.build_agent hands the engine a ScreenshotManager.
CAPTURES_WIRED = "ScreenshotManager(" in (PROJECT_DIR / "main.py").read_text(encoding="utf-8")


@dataclass
class DesktopApp:
    """A running ``main.py`` with its own agent dir and log file."""

    process: subprocess.Popen[bytes]
    agent_dir: Path
    display: str

    def xdotool(self, *arguments: str, check: bool = True) -> str:
        result = subprocess.run(["xdotool", *arguments], capture_output=True, text=True, check=False,
                                env={**os.environ, "DISPLAY": self.display}, timeout=20)
        if check and result.returncode != 0:
            raise AssertionError(f"xdotool {arguments}: {result.stderr}")
        return result.stdout.strip()

    def window(self) -> str | None:
        """The app's top-level window id (xdotool search by title; there is no window manager)."""
        found = self.xdotool("search", "--pid", str(self.process.pid), "--name", "^Vinova", check=False)
        return found.split()[0] if found else None

    def title(self) -> str:
        window = self.window()
        return self.xdotool("getwindowname", window, check=False) if window else ""

    def wait_for_title(self, text: str, timeout: float = 20.0) -> None:
        wait_until(lambda: self.title() == f"Vinova — {text}", timeout, interval=0.1,
                   message=f"window title 'Vinova — {text}' (now {self.title()!r}); log:\n{self.log_tail()}")

    def focus(self) -> None:
        window = self.window()
        assert window is not None, "the window is not there"
        self.xdotool("windowfocus", "--sync", window)

    def type_text(self, text: str) -> None:
        self.xdotool("type", "--delay", "30", text)

    def key(self, *keys: str) -> None:
        self.xdotool("key", "--delay", "30", *keys)

    def log_text(self) -> str:
        path = self.agent_dir / "logs" / "agent.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_for_log(self, text: str, timeout: float = 20.0) -> None:
        wait_until(lambda: text in self.log_text(), timeout, interval=0.1,
                   message=f"{text!r} in the agent log; tail:\n{self.log_tail()}")

    def sign_in(self, username: str, password: str) -> None:
        self.wait_for_title("Sign in")
        self.focus()
        self.type_text(username)
        self.key("Tab")
        self.type_text(password)
        self.key("Return")


@contextmanager
def desktop_app(display: str, server_url: str, tmp_path: Path, name: str = "agent") -> Iterator[DesktopApp]:
    """Start ``main.py`` (GUI) as a double-click would, with its files in tmp_path; stop it at the end."""
    agent_dir = tmp_path / name
    environment = {
        **os.environ,
        "DISPLAY": display,
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "home" / ".local" / "share"),
        "VINOVA_SERVER_URL": server_url,
        "VINOVA_AGENT_DIR": str(agent_dir),
        "VINOVA_LOG_LEVEL": "INFO",
        "TZ": "UTC",
    }
    process = subprocess.Popen([sys.executable, str(PROJECT_DIR / "main.py")], cwd=tmp_path,
                               env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    app = DesktopApp(process, agent_dir, display)
    try:
        yield app
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture
def server(tmp_path: Path, smtp_server: Any) -> Iterator[tuple[Any, str, str]]:
    """A live server with user ann and admin boss; yields (flask app, base URL, admin token)."""
    app = make_app(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "server-data",
                   **smtp_settings(smtp_server))
    add_user(app, "ann", "ann@example.com", PASSWORD)
    add_user(app, "boss", "boss@example.com", PASSWORD, admin=True)
    with live_server(app) as base_url:
        admin_token = sign_in(base_url, "boss", PASSWORD, lambda: latest_code(smtp_server, BOSS_EMAIL))
        response = requests.put(f"{base_url}/api/config", headers=bearer(admin_token), timeout=10,
                                json={"config_poll_interval": 5, "screenshot_interval": 10})
        assert response.status_code == 200, response.text
        yield app, base_url, admin_token


def wait_for_new_code(smtp_server: Any, count: int) -> str:
    smtp_server.wait_for_message("ann@example.com", count=count)
    return latest_code(smtp_server, "ann@example.com")


def test_sign_in_track_change_config_pause_sign_out_and_close(
    xvfb: Any, tmp_path: Path, smtp_server: Any, server: tuple[Any, str, str]
) -> None:
    _app, base_url, admin_token = server
    with desktop_app(xvfb.name, base_url, tmp_path) as app:
        app.sign_in("ann", PASSWORD)
        app.wait_for_title("Enter code")
        app.type_text(wait_for_new_code(smtp_server, 1))
        app.key("Return")
        app.wait_for_title("Tracking")
        assert (app.agent_dir / "session.json").exists()

        typed = "vinova counts keys"
        app.type_text(typed)
        if CAPTURES_WIRED:
            app.wait_for_log("screenshot taken", timeout=30)

        response = requests.put(f"{base_url}/api/config", headers=bearer(admin_token), timeout=10,
                                json={"blur_screenshots": True})
        assert response.status_code == 200
        app.wait_for_log("blur_screenshots false → true", timeout=20)

        app.key("alt+p")
        app.wait_for_title("Paused")
        app.wait_for_log("paused by the user")
        app.key("alt+p")
        app.wait_for_title("Tracking")
        app.wait_for_log("resumed by the user")

        # The minute with the typing ends, its summary is logged and the server has the counts.
        app.wait_for_log("last minute:", timeout=75)
        activity = wait_until(
            lambda: [sample for sample in requests.get(
                f"{base_url}/api/activity", params={"username": "ann"}, headers=bearer(admin_token),
                timeout=10,
            ).json()["samples"] if sample["keys"] > 0],
            timeout=30, interval=0.5, message="ann's typing at the server",
        )
        assert sum(sample["keys"] for sample in activity) >= len(typed)

        app.key("alt+s")
        app.wait_for_title("Sign in")
        app.wait_for_log("signed out")
        assert not (app.agent_dir / "session.json").exists()

        started = time.monotonic()
        app.key("ctrl+q")
        assert app.process.wait(10) == 0
        assert time.monotonic() - started < 5
        assert app.window() is None
        assert "threads still running" not in app.log_text()


def test_wrong_password_and_wrong_code_then_offline_and_back(
    xvfb: Any, tmp_path: Path, smtp_server: Any
) -> None:
    flask_app = make_app(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "server-data",
                         **smtp_settings(smtp_server))
    add_user(flask_app, "ann", "ann@example.com", PASSWORD)
    add_user(flask_app, "boss", "boss@example.com", PASSWORD, admin=True)
    port = free_port()
    with live_server(flask_app, port=port) as base_url:
        admin_token = sign_in(base_url, "boss", PASSWORD, lambda: latest_code(smtp_server, BOSS_EMAIL))
        requests.put(f"{base_url}/api/config", headers=bearer(admin_token), timeout=10,
                     json={"config_poll_interval": 5}).raise_for_status()
        with desktop_app(xvfb.name, base_url, tmp_path) as app:
            app.sign_in("ann", "not the password")
            app.wait_for_log("sign-in failed: Wrong username or password.")
            assert app.title() == "Vinova — Sign in"
            app.focus()  # the password field was emptied and has the cursor
            app.type_text(PASSWORD)
            app.key("Return")
            app.wait_for_title("Enter code")
            code = wait_for_new_code(smtp_server, 1)
            app.type_text(f"{(int(code) + 1) % 1_000_000:06d}")
            app.key("Return")
            app.wait_for_log("sign-in code refused: That code is not right")
            app.type_text(code)  # the wrong code was cleared
            app.key("Return")
            app.wait_for_title("Tracking")
            app.wait_for_log("config_poll_interval 60 → 5")
            # Mid-run the server goes away (below, when its context ends) and comes back.
            app.key("ctrl+q")
            assert app.process.wait(10) == 0
    with desktop_app(xvfb.name, base_url, tmp_path) as app:
        app.wait_for_title("Offline", timeout=30)  # the saved session is used while the server is down
        assert "starting offline" in app.log_text()
        with live_server(flask_app, port=port):
            app.wait_for_title("Tracking", timeout=30)
        app.wait_for_title("Offline", timeout=30)
        app.key("ctrl+q")
        assert app.process.wait(10) == 0


def test_server_down_at_sign_in_is_said_in_plain_words(xvfb: Any, tmp_path: Path) -> None:
    base_url = f"http://127.0.0.1:{free_port()}"
    with desktop_app(xvfb.name, base_url, tmp_path) as app:
        app.sign_in("ann", PASSWORD)
        app.wait_for_log(f"sign-in failed: Cannot reach the server at {base_url}")
        assert app.title() == "Vinova — Sign in"


def test_in_process_window_shows_typed_keys_and_the_capture_thumbnail(
    xvfb: Any, tmp_path: Path, smtp_server: Any, server: tuple[Any, str, str]
) -> None:
    """The same window in this process, so its widgets can be read: xdotool input moves the counts."""
    import tkinter as tk

    from agent.client import ServerClient
    from agent.settings import AgentSettings
    from agent.window.controller import VinovaApp
    from agent.window.look import setup_look
    from main import build_agent

    _app, base_url, _admin_token = server
    settings = AgentSettings(server_url=base_url, agent_dir=tmp_path / "in-process-agent")
    root = tk.Tk()
    app = VinovaApp(root, settings, ServerClient(base_url), build_agent, look=setup_look(root, 1.0))

    def pump_until(predicate: Any, timeout: float = 20.0, message: str = "") -> Any:
        def step() -> Any:
            root.update()
            return predicate()

        return wait_until(step, timeout, interval=0.02, message=message)

    try:
        app.start()
        view = app.sign_in_view
        view.username.set("ann")
        view.password.set(PASSWORD)
        view.button.invoke()
        pump_until(lambda: app.current_view is app.code_view, message="the code dialog")
        code = wait_for_new_code(smtp_server, 1)
        app.code_view.code.set(code)
        app.code_view.verify_button.invoke()
        pump_until(lambda: root.title() == "Vinova — Tracking", message="Tracking")
        pump_until(lambda: app._starter is not None and not app._starter.is_alive(), message="the engine")
        keys_before = int(app.main_view.keys_today.get().replace(",", "") or 0)
        subprocess.run(["xdotool", "type", "--delay", "20", "twelve keys!"], check=True,
                       env={**os.environ, "DISPLAY": xvfb.name})
        subprocess.run(["xdotool", "click", "1"], check=True, env={**os.environ, "DISPLAY": xvfb.name})
        pump_until(lambda: int(app.main_view.keys_today.get().replace(",", "")) >= keys_before + 12,
                   message="the key count to move")
        pump_until(lambda: app.main_view.clicks_today.get() != "0", message="the click count to move")
        if CAPTURES_WIRED:
            # A thumbnail's caption names the capture's size ("18:00:05 · 1920x1080").
            pump_until(lambda: " · " in app.main_view.capture_caption.get(), timeout=30,
                       message="a thumbnail")
            assert "x" in app.main_view.capture_caption.get()
    finally:
        if not app.closed:
            app.close()


def _processes_with_agent_dir(agent_dir: Path) -> list[int]:
    """Our launched app's pid(s), found by the unique agent dir in their environment."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if process.environ().get("VINOVA_AGENT_DIR") == str(agent_dir):
                found.append(process.pid)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def test_the_desktop_launcher_opens_the_sign_in_window(xvfb: Any, tmp_path: Path) -> None:
    """vinova.desktop, installed as the README says, started the way a desktop starts it (gio launch)."""
    import shutil

    if shutil.which("gio") is None:
        pytest.skip("gio (GLib) is not installed")
    installed = tmp_path / "applications" / "vinova.desktop"
    installed.parent.mkdir()
    template = (PROJECT_DIR / "vinova.desktop").read_text(encoding="utf-8")
    installed.write_text(template.replace("@VINOVA_DIR@", str(PROJECT_DIR)), encoding="utf-8")
    agent_dir = tmp_path / "launched-agent"
    environment = {**os.environ, "DISPLAY": xvfb.name, "HOME": str(tmp_path / "home"),
                   "VINOVA_AGENT_DIR": str(agent_dir), "VINOVA_SERVER_URL": f"http://127.0.0.1:{free_port()}"}
    subprocess.run(["gio", "launch", str(installed)], env=environment, check=True, timeout=20)

    def xdotool(*arguments: str) -> str:
        return subprocess.run(["xdotool", *arguments], capture_output=True, text=True, check=False,
                              env=environment, timeout=20).stdout.strip()

    try:
        def sign_in_window() -> str:
            for window in xdotool("search", "--name", "^Vinova").split():
                if xdotool("getwindowname", window) == "Vinova — Sign in":
                    return window
            return ""

        window = wait_until(sign_in_window, timeout=20, message="the sign-in window")
        xdotool("windowfocus", "--sync", window)
        xdotool("key", "ctrl+q")
        wait_until(lambda: not _processes_with_agent_dir(agent_dir), timeout=10, message="the app to exit")
    finally:
        for pid in _processes_with_agent_dir(agent_dir):
            os.kill(pid, signal.SIGTERM)
