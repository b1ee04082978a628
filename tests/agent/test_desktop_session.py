"""Which session the agent is in, from the variables the session sets."""

from __future__ import annotations

import pytest

from agent.adapters.session import GNOME, KDE, NO_SESSION, OTHER, WAYLAND, WLROOTS, X11, detect_session
from agent.adapters.wayland import socket_path


@pytest.mark.parametrize(
    ("environ", "kind", "desktop"),
    [
        ({"DISPLAY": ":0"}, X11, OTHER),
        ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11", "WAYLAND_DISPLAY": "wayland-0"}, X11, OTHER),
        ({"WAYLAND_DISPLAY": "wayland-1", "XDG_CURRENT_DESKTOP": "sway"}, WAYLAND, WLROOTS),
        ({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland",
          "XDG_CURRENT_DESKTOP": "ubuntu:GNOME"}, WAYLAND, GNOME),
        ({"WAYLAND_DISPLAY": "wayland-0", "XDG_CURRENT_DESKTOP": "KDE"}, WAYLAND, KDE),
        ({"WAYLAND_DISPLAY": "wayland-0", "XDG_CURRENT_DESKTOP": "Hyprland"}, WAYLAND, WLROOTS),
        ({"WAYLAND_DISPLAY": "wayland-0"}, WAYLAND, OTHER),
        ({}, NO_SESSION, OTHER),
    ],
)
def test_the_session_and_desktop_follow_the_environment(
    environ: dict[str, str], kind: str, desktop: str
) -> None:
    session = detect_session(environ)
    assert (session.kind, session.desktop) == (kind, desktop)


def test_the_compositor_socket_is_found_under_the_runtime_folder_or_given_absolute() -> None:
    assert str(socket_path({"WAYLAND_DISPLAY": "wayland-1", "XDG_RUNTIME_DIR": "/run/user/1000"})) == (
        "/run/user/1000/wayland-1"
    )
    assert str(socket_path({"WAYLAND_DISPLAY": "/tmp/w.sock"})) == "/tmp/w.sock"
    assert socket_path({"WAYLAND_DISPLAY": "wayland-1"}) is None
    assert socket_path({}) is None
