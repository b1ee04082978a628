"""The desktop portal grabber over the real xdg-desktop-portal, with its wlroots backend, on a headless sway.

What runs: a private dbus-daemon; pipewire (xdg-desktop-portal-wlr exits without it); the wlroots backend
(``org.freedesktop.impl.portal.desktop.wlr``, whose screenshots are taken by grim); xdg-desktop-portal-gtk,
only because xdg-desktop-portal 1.16 exports its Screenshot interface only when some backend offers
``org.freedesktop.impl.portal.Access`` (the permission prompt; the wlr backend's Screenshot is version 1,
so the portal never asks); and xdg-desktop-portal itself, which the agent talks to. GNOME's and KDE's
backends need their whole shell running, so their refusals are tested against the stand-in
(``tests/agent/test_portal_screen.py``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path

import pytest
from dbus_support import dbus_daemon_missing, name_has_owner, running_session_bus, stop_process_group
from PIL import Image, ImageChops, ImageDraw, ImageStat
from support import wait_until
from wayland_support import OUTPUT_SIZE, Sway, missing_tools, running_sway

from agent.adapters.portal_screen import PortalMonitorGrabber, choose_portal_grabber, file_path_of

PORTAL = "/usr/libexec/xdg-desktop-portal"
WLR_BACKEND = "/usr/libexec/xdg-desktop-portal-wlr"
GTK_BACKEND = "/usr/libexec/xdg-desktop-portal-gtk"
PORTAL_PROGRAMS = (PORTAL, WLR_BACKEND, GTK_BACKEND)


def _missing() -> list[str]:
    missing = list(missing_tools())
    missing += ["dbus-daemon"] if dbus_daemon_missing() else []
    missing += [Path(program).name for program in PORTAL_PROGRAMS if not os.access(program, os.X_OK)]
    missing += ["pipewire"] if shutil.which("pipewire") is None else []
    return missing


pytestmark = pytest.mark.skipif(
    bool(_missing()),
    reason=f"needs {', '.join(_missing())} (apt install sway grim wtype dbus-daemon xdg-desktop-portal "
           "xdg-desktop-portal-wlr xdg-desktop-portal-gtk pipewire)",
)


def pattern(size: tuple[int, int]) -> Image.Image:
    """Blocks of colour: a capture of it is far from blank and easy to compare."""
    image = Image.new("RGB", size, (245, 245, 235))
    draw = ImageDraw.Draw(image)
    for left in range(0, size[0], 100):
        draw.rectangle((left, 0, left + 49, size[1]), fill=(20 + left % 200, 140, 90))
    draw.rectangle((200, 150, 700, 450), fill=(30, 30, 200))
    return image


@contextmanager
def running_program(
    command: list[str], environ: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` in its own process group until the block ends; its output goes to ``log``."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=dict(environ), stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield process
        finally:
            stop_process_group(process)


def _start(stack: ExitStack, command: list[str], environ: Mapping[str, str], log: Path,
           ready: Callable[[], bool]) -> None:
    """Start ``command`` and wait until ``ready()``; fail with its last output if it exits first."""
    process = stack.enter_context(running_program(command, environ, log))
    wait_until(lambda: process.poll() is not None or ready(), 20, message=f"{command[0]} to start")
    if process.poll() is not None:
        output = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{command[0]} exited {process.returncode}: {output}")


@pytest.fixture(scope="module")
def portal_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sway, dict[str, str]]]:
    """A headless sway and a session bus with the real portal on it; yields sway and the agent's variables."""
    folder = tmp_path_factory.mktemp("portal")
    background = folder / "pattern.png"
    pattern(OUTPUT_SIZE).save(background)
    home = folder / "home"
    home.mkdir()
    with ExitStack() as stack:
        sway = stack.enter_context(running_sway(background))
        address = stack.enter_context(running_session_bus())
        environ = {**sway.environ, "DBUS_SESSION_BUS_ADDRESS": address, "HOME": str(home)}
        runtime = Path(environ["XDG_RUNTIME_DIR"])
        _start(stack, ["pipewire"], environ, folder / "pipewire.log", (runtime / "pipewire-0").exists)
        for command, name, log in [
            ([WLR_BACKEND], "org.freedesktop.impl.portal.desktop.wlr", "wlr.log"),
            ([GTK_BACKEND], "org.freedesktop.impl.portal.desktop.gtk", "gtk.log"),
            ([PORTAL, "--verbose"], "org.freedesktop.portal.Desktop", "portal.log"),
        ]:
            _start(stack, command, environ, folder / log, partial(name_has_owner, address, name))
        yield sway, environ


def test_the_real_portal_gives_sways_whole_output_as_monitor_zero(
    portal_session: tuple[Sway, dict[str, str]],
) -> None:
    _, environ = portal_session
    grabber = choose_portal_grabber(environ)
    assert isinstance(grabber, PortalMonitorGrabber) and grabber.version is not None and grabber.version >= 1
    started = time.process_time()
    images = grabber()
    cpu_seconds = time.process_time() - started
    assert [shot.monitor for shot in images] == [0]
    image = images[0].image
    assert image.mode == "RGB" and image.size == OUTPUT_SIZE
    difference = ImageStat.Stat(ImageChops.difference(image, pattern(OUTPUT_SIZE))).mean
    assert max(difference) < 8, f"the capture differs from what sway shows: {difference}"
    assert cpu_seconds < 2.0  # decoding one 720p PNG; the wait for the portal costs no CPU here


def test_the_file_the_real_portal_wrote_is_deleted_by_a_capture(
    portal_session: tuple[Sway, dict[str, str]],
) -> None:
    _, environ = portal_session
    grabber = choose_portal_grabber(environ)
    assert grabber is not None
    written = file_path_of(grabber.request_uri())
    try:
        assert written.is_file()
        with Image.open(written) as shot:
            assert shot.size == OUTPUT_SIZE
    finally:
        written.unlink(missing_ok=True)
    grabber()  # the backend writes every screenshot to the same place
    assert not written.exists(), f"a capture left {written} behind"
