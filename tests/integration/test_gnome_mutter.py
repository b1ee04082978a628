"""GNOME for real: Debian's mutter, headless, on a private session bus, read by the agent's D-Bus idle clock.

``mutter --headless --wayland --no-x11 --virtual-monitor 1920x1080`` runs as an unprivileged user (nobody,
when the tests run as root) with its own runtime folder, and owns ``org.gnome.Mutter.IdleMonitor`` on the
test bus. Input comes through mutter's own ``org.gnome.Mutter.RemoteDesktop`` session (virtual pointer and
keyboard), which resets the idle monitor as a person's input would. Bare mutter has no gnome-shell, so no
``org.gnome.ScreenSaver``: the lock adapters are tested against the stand-in
(tests/agent/test_desktop_dbus.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dbus_support import dbus_daemon_missing, name_has_owner, running_session_bus, stop_process_group
from support import wait_until
from wayland_support import NOBODY, nobody_runtime_dir

from agent.adapters.dbus_bus import BusConnection
from agent.adapters.desktop_dbus import (
    MUTTER_IDLE_NAME,
    MutterIdleClock,
    choose_dbus_idle_clock,
    choose_dbus_lock_state,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mutter") is None,
                       reason="mutter is not installed (apt-get install --no-install-recommends mutter)"),
    pytest.mark.skipif(dbus_daemon_missing(), reason="dbus-daemon is not installed"),
    pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None,
                       reason="setpriv (util-linux) is not installed"),
]

REMOTE_DESKTOP = "org.gnome.Mutter.RemoteDesktop"
REMOTE_SESSION = "org.gnome.Mutter.RemoteDesktop.Session"
MUTTER_COMMAND = ("mutter", "--headless", "--wayland", "--no-x11", "--virtual-monitor", "1920x1080")
KEY_LEFTSHIFT = 42  # evdev code: a key with no effect on its own


class Mutter:
    """A running headless mutter on the bus at ``address``."""

    def __init__(self, address: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.address = address
        self.process = process
        self.log = log

    @contextmanager
    def remote_input(self) -> Iterator[RemoteInput]:
        """A RemoteDesktop session: virtual pointer and keyboard input into this mutter."""
        bus = BusConnection(self.address)
        _, body = bus.call(REMOTE_DESKTOP, "/org/gnome/Mutter/RemoteDesktop", REMOTE_DESKTOP, "CreateSession",
                           timeout_seconds=10)
        session = RemoteInput(bus, str(body[0]))
        bus.call(REMOTE_DESKTOP, session.path, REMOTE_SESSION, "Start", timeout_seconds=10)
        try:
            yield session
        finally:
            bus.call(REMOTE_DESKTOP, session.path, REMOTE_SESSION, "Stop", timeout_seconds=10)
            bus.close()


class RemoteInput:
    """Sends input through one RemoteDesktop session."""

    def __init__(self, bus: BusConnection, path: str) -> None:
        self.bus = bus
        self.path = path

    def move_pointer(self) -> None:
        """Move the virtual pointer 5 px right and down."""
        self.bus.call(REMOTE_DESKTOP, self.path, REMOTE_SESSION, "NotifyPointerMotionRelative", "dd",
                      (5.0, 5.0), timeout_seconds=10)

    def tap_key(self) -> None:
        """Press and release Shift on the virtual keyboard."""
        for pressed in (True, False):
            self.bus.call(REMOTE_DESKTOP, self.path, REMOTE_SESSION, "NotifyKeyboardKeycode", "ub",
                          (KEY_LEFTSHIFT, pressed), timeout_seconds=10)


@contextmanager
def running_mutter(address: str) -> Iterator[Mutter]:
    """Headless mutter (as nobody, private XDG_RUNTIME_DIR) until the block ends."""
    with tempfile.TemporaryDirectory(prefix="vinova-mutter-") as folder:
        root = Path(folder)
        as_root = os.geteuid() == 0
        runtime_dir = nobody_runtime_dir(root, chown=as_root)
        # As root, mutter runs as nobody (as a desktop would: not as root); otherwise as the current user.
        drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] if as_root else []
        environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root),
                   "XDG_RUNTIME_DIR": str(runtime_dir), "DBUS_SESSION_BUS_ADDRESS": address}
        log_path = root / "mutter.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*drop, *MUTTER_COMMAND],
                env=environ, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                wait_until(lambda: process.poll() is not None or name_has_owner(address, MUTTER_IDLE_NAME),
                           30, message="mutter's idle monitor on the bus")
                if process.poll() is not None:
                    output = log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"mutter exited {process.returncode}: {output}")
                yield Mutter(address, process, log_path)
            finally:
                stop_process_group(process)


@pytest.fixture
def mutter() -> Iterator[Mutter]:
    """A headless mutter on its own private session bus."""
    with running_session_bus() as address, running_mutter(address) as running:
        yield running


def _idle(clock: MutterIdleClock) -> float:
    seconds = clock.seconds_since_last_input()
    assert seconds is not None, "mutter's idle monitor did not answer"
    return seconds


def test_the_gnome_chooser_finds_mutters_idle_monitor_and_idle_time_grows(mutter: Mutter) -> None:
    clock = choose_dbus_idle_clock("gnome", {"DBUS_SESSION_BUS_ADDRESS": mutter.address})
    assert isinstance(clock, MutterIdleClock)
    try:
        first = _idle(clock)
        assert first >= 0
        wait_until(lambda: _idle(clock) >= first + 0.5, 10, message="idle time to grow with no input")
    finally:
        clock.close()


def test_pointer_and_key_input_reset_mutters_idle_time(mutter: Mutter) -> None:
    clock = MutterIdleClock(BusConnection(mutter.address))
    try:
        with mutter.remote_input() as remote:
            for send_input in (remote.move_pointer, remote.tap_key):
                wait_until(lambda: _idle(clock) >= 1.0, 10, message="a second without input")
                send_input()
                assert _idle(clock) < 0.9, f"idle time did not drop after {send_input.__name__}"
    finally:
        clock.close()


def test_the_idle_clock_says_none_once_mutter_is_gone_and_bare_mutter_gives_no_lock() -> None:
    with running_session_bus() as address:
        environ = {"DBUS_SESSION_BUS_ADDRESS": address, "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent"}
        with running_mutter(address):
            clock = choose_dbus_idle_clock("gnome", environ)
            assert clock is not None
            # The screen shield is gnome-shell's, not mutter's.
            assert choose_dbus_lock_state("gnome", environ) is None
        try:
            assert clock.seconds_since_last_input() is None
        finally:
            clock.close()
