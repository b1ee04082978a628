"""Which desktop session the agent runs in: X11, or Wayland under wlroots, GNOME or KDE (issue 15).

Read from the environment a session sets for its programs (``XDG_SESSION_TYPE``, ``WAYLAND_DISPLAY``,
``XDG_CURRENT_DESKTOP``); the adapter-choosing functions ask this one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

X11 = "x11"
WAYLAND = "wayland"
NO_SESSION = "none"

GNOME = "gnome"
KDE = "kde"
WLROOTS = "wlroots"
OTHER = "other"

# XDG_CURRENT_DESKTOP names (colon-separated, case varies) of compositors built on wlroots.
_WLROOTS_DESKTOPS = frozenset({"sway", "hyprland", "river", "wayfire", "labwc", "niri", "dwl", "wlroots"})


@dataclass(frozen=True, slots=True)
class DesktopSession:
    """The session type (x11 / wayland / none) and, for Wayland, the desktop family."""

    kind: str
    desktop: str

    @property
    def is_wayland(self) -> bool:
        """Whether native Wayland adapters apply (X11 ones would see only XWayland programs)."""
        return self.kind == WAYLAND


def detect_session(environ: Mapping[str, str]) -> DesktopSession:
    """The session of ``environ``.

    A Wayland session also sets ``DISPLAY`` (for XWayland), so Wayland wins when both are there;
    ``XDG_SESSION_TYPE=x11`` wins over a stray ``WAYLAND_DISPLAY``.
    """
    session_type = environ.get("XDG_SESSION_TYPE", "").strip().lower()
    has_wayland = bool(environ.get("WAYLAND_DISPLAY", "").strip())
    has_x11 = bool(environ.get("DISPLAY", "").strip())
    if session_type == X11 and has_x11:
        kind = X11
    elif has_wayland and session_type in {"", WAYLAND, "tty"}:
        kind = WAYLAND
    elif has_x11:
        kind = X11
    else:
        kind = NO_SESSION
    if kind != WAYLAND:
        return DesktopSession(kind, OTHER)
    names = {name.strip().lower() for name in environ.get("XDG_CURRENT_DESKTOP", "").split(":")}
    if any("gnome" in name for name in names):
        desktop = GNOME
    elif "kde" in names or "plasma" in names:
        desktop = KDE
    elif names & _WLROOTS_DESKTOPS:
        desktop = WLROOTS
    else:
        desktop = OTHER
    return DesktopSession(kind, desktop)
