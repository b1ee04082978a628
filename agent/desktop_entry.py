"""The Linux launcher: ``vinova --install-desktop-entry`` writes the menu entry and its icon.

The entry starts what is running now: the built executable (``dist/vinova/vinova``), or this
checkout's ``main.py`` with the Python that runs it. The autostart entry (:mod:`agent.autostart`)
is the same text with the autostart keys added.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from contract.private_files import write_private_file

APP_ID = "vinova"
ICON_SIZE = "256x256"
PROJECT_DIR = Path(__file__).resolve().parents[1]
# Characters the Desktop Entry spec says must be escaped inside a quoted Exec argument.
_EXEC_ESCAPED = ("\\", '"', "`", "$")  # the backslash first


def launch_command() -> list[str]:
    """How to start this Vinova again: the frozen executable, or Python with this checkout's main.py."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, str(PROJECT_DIR / "main.py")]


def bundled_icon() -> Path:
    """The PNG icon shipped with the program (inside the bundle when frozen)."""
    base = Path(getattr(sys, "_MEIPASS", PROJECT_DIR))
    return base / "packaging" / "vinova.png"


def exec_line(command: Sequence[str]) -> str:
    """``command`` quoted for a desktop entry's ``Exec=`` key (spec: quoting, ``%`` doubled)."""
    quoted = []
    for argument in command:
        text = argument.replace("%", "%%")
        if any(character in text for character in ' \t\n"\'\\><~|&;$*?#()`'):
            for character in _EXEC_ESCAPED:
                text = text.replace(character, "\\" + character)
            text = f'"{text}"'
        quoted.append(text)
    return " ".join(quoted)


def desktop_entry(command: Sequence[str], *, autostart: bool = False, icon: str = APP_ID) -> str:
    """The text of ``vinova.desktop``: the menu entry, or with ``autostart`` the log-in entry."""
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.5",
        "Name=Vinova",
        "GenericName=Activity tracker",
        "Comment=Sign in and track activity; the window shows everything Vinova records and sends",
        f"Exec={exec_line(command)}",
        f"Icon={icon}",
        "Terminal=false",
        "Categories=Utility;Monitor;",
        "StartupNotify=true",
        "StartupWMClass=Vinova",
        "Keywords=activity;tracker;time;screenshots;",
    ]
    if autostart:
        lines += ["X-GNOME-Autostart-enabled=true", "X-KDE-autostart-after=panel"]
    return "\n".join(lines) + "\n"


def data_home(environ: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """``$XDG_DATA_HOME`` or ``~/.local/share``."""
    values = os.environ if environ is None else environ
    return Path(values.get("XDG_DATA_HOME") or (home or Path.home()) / ".local" / "share")


@dataclass(frozen=True, slots=True)
class InstalledEntry:
    """Where the launcher and its icon were written."""

    desktop_file: Path
    icon_file: Path


def install_desktop_entry(
    command: Sequence[str] | None = None, *, share_dir: Path | None = None, icon_source: Path | None = None
) -> InstalledEntry:
    """Write ``applications/vinova.desktop`` and the hicolor icon under the XDG data directory."""
    share = share_dir or data_home()
    icon_file = share / "icons" / "hicolor" / ICON_SIZE / "apps" / f"{APP_ID}.png"
    icon_file.parent.mkdir(parents=True, exist_ok=True)
    write_private_file(icon_file, (icon_source or bundled_icon()).read_bytes())
    desktop_file = share / "applications" / f"{APP_ID}.desktop"
    desktop_file.parent.mkdir(parents=True, exist_ok=True)
    # The icon by absolute path: menus find it without an icon-theme cache refresh.
    text = desktop_entry(command or launch_command(), icon=str(icon_file))
    write_private_file(desktop_file, text)
    return InstalledEntry(desktop_file, icon_file)
