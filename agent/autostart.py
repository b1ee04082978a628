"""Start Vinova when I sign in: one seam, one adapter per platform, and the user's choice.

- Linux (XDG): ``$XDG_CONFIG_HOME/autostart/vinova.desktop`` (``~/.config/autostart``), which
  GNOME, KDE, Xfce, LXQt and others start at log-in.
- Windows: the ``Vinova`` value of ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``
  (no admin rights needed; Task Manager's Startup tab shows and can switch it off).
- macOS: the LaunchAgent ``~/Library/LaunchAgents/org.vinova.agent.plist`` (``RunAtLoad``).

:class:`AutostartChoice` keeps the user's choice in the agent folder: on by default after the
first sign-in, off once the user unticks the box, and always on while the organisation's
``force_autostart`` setting says so. Every method runs on the caller's thread (the Tk thread in
the window) and only touches small local files or the registry, so none of them blocks for long.
"""

from __future__ import annotations

import importlib
import json
import os
import plistlib
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from agent.desktop_entry import desktop_entry
from contract.errors import VinovaError
from contract.private_files import write_private_file

CHOICE_FILE_NAME = "autostart.json"
RUN_KEY_PATH = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE_NAME = "Vinova"
LAUNCH_AGENT_LABEL = "org.vinova.agent"


class AutostartEntry(Protocol):
    """What makes the platform start Vinova at log-in; OSError-free (failures are VinovaError)."""

    def is_enabled(self) -> bool:
        """Whether Vinova is set to start at log-in."""
        ...

    def enable(self, command: Sequence[str]) -> None:
        """Start ``command`` at every log-in from now on."""
        ...

    def disable(self) -> None:
        """Stop starting Vinova at log-in (nothing to do when it was not set)."""
        ...


class XdgAutostart:
    """The XDG autostart entry (Linux and other freedesktop systems)."""

    def __init__(self, config_home: Path) -> None:
        self.path = config_home / "autostart" / "vinova.desktop"

    def is_enabled(self) -> bool:
        """Whether the entry exists (and is not switched off by ``Hidden=true``)."""
        try:
            return "Hidden=true" not in self.path.read_text(encoding="utf-8")
        except OSError:
            return False

    def enable(self, command: Sequence[str]) -> None:
        """Write the entry, the same launcher as the menu's plus the autostart keys."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_private_file(self.path, desktop_entry(command, autostart=True))
        except OSError as exc:
            raise VinovaError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def disable(self) -> None:
        """Remove the entry."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise VinovaError(f"cannot remove {self.path}: {exc.strerror or exc}") from exc


class RunKey(Protocol):
    """The current user's ``...\\CurrentVersion\\Run`` key: one string value per program."""

    def get(self, name: str) -> str | None:
        """The value ``name``, or None when it is not there."""
        ...

    def set(self, name: str, value: str) -> None:
        """Create or replace the string value ``name``."""
        ...

    def delete(self, name: str) -> None:
        """Remove the value ``name`` (nothing when it is not there)."""
        ...


def _winreg() -> Any:
    """The ``winreg`` module (Windows only; imported where it is used, STYLE §2)."""
    return importlib.import_module("winreg")


class WinregRunKey:
    """The real Run key through ``winreg`` (imported here: it exists only on Windows)."""

    def get(self, name: str) -> str | None:
        winreg = _winreg()

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY_PATH) as key:
                value, _kind = winreg.QueryValueEx(key, name)
        except FileNotFoundError:
            return None
        return str(value)

    def set(self, name: str, value: str) -> None:
        winreg = _winreg()

        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY_PATH) as key:
            winreg.SetValueEx(key, name, 0, winreg.REG_SZ, value)

    def delete(self, name: str) -> None:
        winreg = _winreg()

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY_PATH, 0, winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, name)
        except FileNotFoundError:
            return


class WindowsRunAutostart:
    """A ``Vinova`` value under the current user's Run key: the quoted command line."""

    def __init__(self, run_key: RunKey) -> None:
        self.run_key = run_key

    def is_enabled(self) -> bool:
        """Whether the Run key has the Vinova value."""
        try:
            return bool(self.run_key.get(RUN_VALUE_NAME))
        except OSError as exc:
            raise VinovaError(f"cannot read the Run key: {exc}") from exc

    def enable(self, command: Sequence[str]) -> None:
        """Set the value to the command line, quoted as Windows parses it."""
        try:
            self.run_key.set(RUN_VALUE_NAME, subprocess.list2cmdline(list(command)))
        except OSError as exc:
            raise VinovaError(f"cannot write the Run key: {exc}") from exc

    def disable(self) -> None:
        """Remove the value."""
        try:
            self.run_key.delete(RUN_VALUE_NAME)
        except OSError as exc:
            raise VinovaError(f"cannot change the Run key: {exc}") from exc


class LaunchAgentAutostart:
    """A per-user LaunchAgent that launchd starts at log-in (macOS)."""

    def __init__(self, home: Path) -> None:
        self.path = home / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"

    def is_enabled(self) -> bool:
        """Whether the plist is there."""
        return self.path.is_file()

    def enable(self, command: Sequence[str]) -> None:
        """Write the plist: run at load, in the user's graphical session, not restarted on quit."""
        document = {
            "Label": LAUNCH_AGENT_LABEL,
            "ProgramArguments": list(command),
            "RunAtLoad": True,
            "KeepAlive": False,
            "ProcessType": "Interactive",
            "LimitLoadToSessionType": "Aqua",
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_private_file(self.path, plistlib.dumps(document))
        except OSError as exc:
            raise VinovaError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def disable(self) -> None:
        """Remove the plist (launchd forgets it at the next log-in)."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise VinovaError(f"cannot remove {self.path}: {exc.strerror or exc}") from exc


def choose_autostart(
    platform: str = sys.platform, environ: Mapping[str, str] | None = None, home: Path | None = None
) -> AutostartEntry:
    """The adapter for ``platform`` (``sys.platform`` values)."""
    values = os.environ if environ is None else environ
    user_home = home or Path.home()
    if platform == "win32":
        return WindowsRunAutostart(WinregRunKey())
    if platform == "darwin":
        return LaunchAgentAutostart(user_home)
    return XdgAutostart(Path(values.get("XDG_CONFIG_HOME") or user_home / ".config"))


class AutostartChoice:
    """The user's "Start Vinova when I sign in", kept in the agent folder and applied to the entry."""

    def __init__(self, agent_dir: Path, entry: AutostartEntry, command: Sequence[str]) -> None:
        self.path = agent_dir / CHOICE_FILE_NAME
        self.entry = entry
        self.command = list(command)

    def wanted(self) -> bool | None:
        """The stored choice; None before the first sign-in (nothing chosen yet)."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
        value = raw.get("start_at_sign_in") if isinstance(raw, dict) else None
        return value if isinstance(value, bool) else None

    def apply(self, *, forced: bool = False) -> bool:
        """After a sign-in: on by default the first time, forced on by the organisation; returns on/off."""
        wanted = self.wanted()
        if wanted is None:
            wanted = True
            write_private_file(self.path, json.dumps({"start_at_sign_in": True}))
        return self._set_entry(wanted or forced)

    def choose(self, wanted: bool, *, forced: bool = False) -> bool:
        """The user ticked or unticked the box; returns whether Vinova now starts at log-in."""
        write_private_file(self.path, json.dumps({"start_at_sign_in": wanted}))
        return self._set_entry(wanted or forced)

    def _set_entry(self, enabled: bool) -> bool:
        if enabled:
            self.entry.enable(self.command)  # rewritten each time: the executable may have moved
        elif self.entry.is_enabled():
            self.entry.disable()
        return enabled
