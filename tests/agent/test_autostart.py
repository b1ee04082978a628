"""Start Vinova when I sign in: the XDG entry for real in a tmp HOME, the Run key and LaunchAgent by content,
the user's choice, the organisation's force_autostart, the window's box, and the menu launcher."""

from __future__ import annotations

import configparser
import gc
import os
import plistlib
import shlex
import subprocess
import sys
import tkinter as tk
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from PIL import Image
from window_support import SERVER_URL, FakeClient, build_test_agent, pump_until, reach_tracking

from agent.autostart import (
    RUN_VALUE_NAME,
    AutostartChoice,
    LaunchAgentAutostart,
    WindowsRunAutostart,
    XdgAutostart,
    choose_autostart,
)
from agent.client import ServerClient
from agent.desktop_entry import bundled_icon, desktop_entry, exec_line, install_desktop_entry, launch_command
from agent.settings import AgentSettings
from agent.window.controller import VinovaApp
from agent.window.look import setup_look
from agent.window.startup_row import FORCED_TEXT, AutostartControl

PROJECT_DIR = Path(__file__).resolve().parents[2]
COMMAND = ["/opt/Vinova App/vinova"]


def read_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser["Desktop Entry"]


class FakeRunKey:
    """A dict standing in for HKCU\\...\\CurrentVersion\\Run."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, value: str) -> None:
        self.values[name] = value

    def delete(self, name: str) -> None:
        self.values.pop(name, None)


# --------------------------------------------------------------------------- the adapters
def test_linux_writes_an_xdg_autostart_entry_in_the_users_config_folder(tmp_path: Path) -> None:
    entry = choose_autostart("linux", environ={}, home=tmp_path)
    assert isinstance(entry, XdgAutostart)
    entry.enable(COMMAND)
    path = tmp_path / ".config" / "autostart" / "vinova.desktop"
    assert entry.is_enabled() and path.stat().st_mode & 0o077 == 0
    values = read_entry(path)
    assert shlex.split(values["Exec"]) == COMMAND
    assert values["Type"] == "Application" and values["X-GNOME-Autostart-enabled"] == "true"
    entry.disable()
    assert not path.exists() and not entry.is_enabled()
    entry.disable()  # nothing to remove: no error


def test_xdg_config_home_is_honoured(tmp_path: Path) -> None:
    entry = choose_autostart("linux", environ={"XDG_CONFIG_HOME": str(tmp_path / "cfg")}, home=tmp_path)
    entry.enable(COMMAND)
    assert (tmp_path / "cfg" / "autostart" / "vinova.desktop").is_file()


def test_windows_sets_a_quoted_run_value_and_removes_it() -> None:
    run_key = FakeRunKey()
    entry = WindowsRunAutostart(run_key)
    entry.enable([r"C:\Program Files\Vinova\vinova.exe"])
    assert run_key.values == {RUN_VALUE_NAME: r'"C:\Program Files\Vinova\vinova.exe"'}
    assert entry.is_enabled()
    entry.disable()
    assert run_key.values == {} and not entry.is_enabled()


def test_windows_is_chosen_for_win32() -> None:
    assert isinstance(choose_autostart("win32", environ={}), WindowsRunAutostart)


def test_macos_writes_a_launch_agent_that_runs_at_log_in(tmp_path: Path) -> None:
    entry = choose_autostart("darwin", environ={}, home=tmp_path)
    assert isinstance(entry, LaunchAgentAutostart)
    entry.enable(["/Applications/Vinova.app/Contents/MacOS/vinova"])
    path = tmp_path / "Library" / "LaunchAgents" / "org.vinova.agent.plist"
    document = plistlib.loads(path.read_bytes())
    assert document["Label"] == "org.vinova.agent"
    assert document["ProgramArguments"] == ["/Applications/Vinova.app/Contents/MacOS/vinova"]
    assert document["RunAtLoad"] is True and document["KeepAlive"] is False
    entry.disable()
    assert not entry.is_enabled()


# --------------------------------------------------------------------------- the choice
def test_on_by_default_after_the_first_sign_in_then_the_users_no_sticks(tmp_path: Path) -> None:
    entry = XdgAutostart(tmp_path / "config")
    choice = AutostartChoice(tmp_path / "agent-dir", entry, COMMAND)
    (tmp_path / "agent-dir").mkdir()
    assert choice.wanted() is None
    assert choice.apply() is True and entry.is_enabled()
    assert choice.choose(False) is False and not entry.is_enabled()
    assert choice.apply() is False and not entry.is_enabled()  # the next sign-in keeps the user's no


def test_force_autostart_turns_it_on_whatever_the_user_chose(tmp_path: Path) -> None:
    entry = XdgAutostart(tmp_path / "config")
    (tmp_path / "agent-dir").mkdir()
    choice = AutostartChoice(tmp_path / "agent-dir", entry, COMMAND)
    choice.choose(False)
    assert choice.apply(forced=True) is True and entry.is_enabled()
    assert choice.apply(forced=False) is False and not entry.is_enabled()


# --------------------------------------------------------------------------- the menu launcher
def test_exec_quotes_arguments_as_the_desktop_entry_spec_says() -> None:
    line = exec_line(["/usr/bin/python3", "/home/ann/my projects/main.py", "100%"])
    assert line == '/usr/bin/python3 "/home/ann/my projects/main.py" 100%%'
    assert exec_line(['/a "b"/$x']) == '"/a \\"b\\"/\\$x"'


def test_install_desktop_entry_writes_the_launcher_and_the_icon(tmp_path: Path) -> None:
    installed = install_desktop_entry(COMMAND, share_dir=tmp_path)
    assert installed.desktop_file == tmp_path / "applications" / "vinova.desktop"
    values = read_entry(installed.desktop_file)
    assert shlex.split(values["Exec"]) == COMMAND
    assert values["Icon"] == str(installed.icon_file) and values["Name"] == "Vinova"
    with Image.open(installed.icon_file) as icon:
        assert icon.format == "PNG" and icon.size == (256, 256)


def test_the_repos_icon_is_the_one_the_drawing_script_makes(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(PROJECT_DIR / "packaging" / "draw_icon.py"), str(tmp_path / "i.png")],
                   check=True, capture_output=True, timeout=60)
    with Image.open(tmp_path / "i.png") as drawn, Image.open(bundled_icon()) as shipped:
        assert drawn.tobytes() == shipped.tobytes()


def test_main_install_desktop_entry_points_the_menu_at_this_main_py(tmp_path: Path) -> None:
    environment = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "share"), "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, str(PROJECT_DIR / "main.py"), "--install-desktop-entry"],
                            cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "added to the application menu" in result.stdout
    values = read_entry(tmp_path / "share" / "applications" / "vinova.desktop")
    assert shlex.split(values["Exec"]) == [sys.executable, str(PROJECT_DIR / "main.py")]
    assert Path(values["Icon"]).is_file()


def test_the_autostart_entry_is_the_launcher_plus_the_autostart_keys() -> None:
    launcher = desktop_entry(COMMAND).splitlines()
    autostart = desktop_entry(COMMAND, autostart=True).splitlines()
    assert autostart[: len(launcher)] == launcher
    assert "X-GNOME-Autostart-enabled=true" in autostart


# --------------------------------------------------------------------------- the window's box
@pytest.fixture
def root(xvfb: Any) -> Iterator[tk.Tk]:
    gc.collect()  # Tk objects must be freed on the Tk thread (see test_main_view.py)
    window = tk.Tk()
    yield window
    try:
        window.destroy()
    except tk.TclError:
        pass
    gc.collect()


@pytest.mark.integration
def test_the_window_box_is_ticked_after_sign_in_unticks_and_greys_when_forced(
    root: tk.Tk, tmp_path: Path
) -> None:
    client = FakeClient()
    settings = AgentSettings(server_url=SERVER_URL, agent_dir=tmp_path / "agent")
    app = VinovaApp(root, settings, cast(ServerClient, client), build_test_agent,
                    look=setup_look(root, 1.0), client_factory=lambda url: cast(ServerClient, client))
    entry = XdgAutostart(tmp_path / "config")
    row = app.main_view.startup_row
    try:
        settings.prepare_agent_dir()
        AutostartControl(root, row, AutostartChoice(settings.agent_dir, entry, COMMAND), lambda: app.agent)
        assert row.version_label.cget("text").startswith("Vinova 1.")
        reach_tracking(app)
        pump_until(root, lambda: row.autostart.get() and entry.is_enabled(), message="on after first sign-in")
        row.checkbox.invoke()
        assert not row.autostart.get() and not entry.is_enabled()
        agent = app.agent
        assert agent is not None
        client.config = client.config | {"force_autostart": True, "version": 2}
        agent.poll_config()
        pump_until(root, lambda: row.checkbox.instate(["disabled"]), message="the box greyed when forced")
        assert row.autostart.get() and entry.is_enabled()
        assert row.checkbox.cget("text") == FORCED_TEXT
    finally:
        if not app.closed:
            app.close()


def test_the_log_in_entry_carries_the_server_and_folder_in_use(tmp_path: Path) -> None:
    from main import autostart_command

    settings = AgentSettings(server_url="https://vinova.example", agent_dir=tmp_path / "agent")
    assert autostart_command(settings) == [*launch_command(), "--server-url", "https://vinova.example",
                                           "--agent-dir", str(tmp_path / "agent")]
    assert autostart_command(AgentSettings()) == launch_command()  # the defaults need no flags
