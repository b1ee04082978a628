"""A private D-Bus message bus for the tests, and a way to start a D-Bus service program on it.

``running_session_bus()`` starts ``dbus-daemon --nofork --print-address`` with its own configuration
and socket in a temporary folder (never the machine's session or system bus), yields the bus address
and stops the daemon by its pid when the block ends. ``running_service()`` starts a Python module
(``python -m …``) with ``DBUS_SESSION_BUS_ADDRESS`` pointing at that bus and waits until it owns its
bus name. The desktop stand-ins (GNOME's idle monitor and screen saver, freedesktop's screen saver,
logind) live in :mod:`dbus_standin`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from support import wait_until

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent

# Anyone may connect (the socket lives in a private temporary folder; a test may run a desktop program
# as another user), send anything and own any name: a stand-in for a desktop session's bus.
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>{bus_type}</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def dbus_daemon_missing() -> bool:
    """True when this machine has no ``dbus-daemon`` (scripts/install-apt.sh installs it)."""
    return shutil.which("dbus-daemon") is None


@contextmanager
def running_session_bus(bus_type: str = "session") -> Iterator[str]:
    """A private ``dbus-daemon`` until the block ends; yields its address (``unix:path=…,guid=…``).

    ``bus_type`` "system" gives a second private bus for a logind stand-in (same permissive policy).
    """
    with tempfile.TemporaryDirectory(prefix="vinova-dbus-") as folder:
        root = Path(folder)
        root.chmod(0o755)  # a desktop program started as another user must reach the socket
        socket = root / "bus"
        config = root / "bus.conf"
        config.write_text(BUS_CONFIG.format(bus_type=bus_type, socket=socket))
        config.chmod(0o644)
        process = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        try:
            assert process.stdout is not None
            # The daemon prints its address once it listens; EOF means it died before that.
            address = process.stdout.readline().decode().strip()
            if not address:
                process.wait(10)
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"dbus-daemon did not start (exit {process.returncode}): {error}")
            yield address
        finally:
            stop_process_group(process)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


@contextmanager
def running_service(
    address: str,
    module: str,
    args: Sequence[str] = (),
    bus_name: str | None = None,
    environ: Mapping[str, str] | None = None,
    timeout: float = 20.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``python -m module *args`` on the bus at ``address`` until the block ends.

    With ``bus_name`` it waits until that name has an owner on the bus (or the program died). The
    module is looked up with the tests folder and the repository root on ``PYTHONPATH``.
    """
    env = dict(os.environ if environ is None else environ)
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), str(REPO_ROOT), env.get("PYTHONPATH", "")])
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        if bus_name is not None:
            wait_until(lambda: process.poll() is not None or name_has_owner(address, bus_name), timeout,
                       message=f"{module} to own {bus_name}")
            if process.poll() is not None:
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"{module} exited {process.returncode}: {error[-2000:]}")
        yield process
    finally:
        stop_process_group(process)
        if process.stderr is not None:
            process.stderr.close()


def name_has_owner(address: str, bus_name: str) -> bool:
    """Whether ``bus_name`` has an owner on the bus at ``address`` right now."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    bus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus",
                      interface="org.freedesktop.DBus")
    with open_dbus_connection(address, enable_fds=False) as connection:
        reply = connection.send_and_get_reply(new_method_call(bus, "NameHasOwner", "s", (bus_name,)),
                                              timeout=5)
    return bool(reply.body and reply.body[0])


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """End a process started with ``start_new_session=True`` and its children: TERM, then KILL after 10 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


class StandInControl:
    """Steers a running :mod:`dbus_standin` through its ``org.vinova.Test.StandIn`` interface."""

    def __init__(self, address: str, process: subprocess.Popen[bytes]) -> None:
        self.address = address
        self.process = process

    def set_idle_milliseconds(self, milliseconds: int) -> None:
        """What GetIdletime and GetSessionIdleTime answer from now on."""
        self._call("SetIdleMilliseconds", "t", (milliseconds,))

    def set_locked(self, locked: bool) -> None:
        """What every GetActive and logind's LockedHint answer from now on."""
        self._call("SetLocked", "b", (locked,))

    def set_wrong_types(self, wrong: bool) -> None:
        """Answer strings where numbers and booleans belong."""
        self._call("SetWrongTypes", "b", (wrong,))

    def set_silent(self, silent: bool) -> None:
        """Give the desktop calls no reply at all (a hung service)."""
        self._call("SetSilent", "b", (silent,))

    def _call(self, method: str, signature: str, body: tuple[object, ...]) -> None:
        from jeepney import DBusAddress, MessageType, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        control = DBusAddress("/org/vinova/Test/StandIn", bus_name="org.vinova.Test.StandIn",
                              interface="org.vinova.Test.StandIn")
        with open_dbus_connection(self.address, enable_fds=False) as connection:
            message = new_method_call(control, method, signature, body)
            reply = connection.send_and_get_reply(message, timeout=5)
        assert reply.header.message_type is MessageType.method_return, reply.body


@contextmanager
def running_standin(address: str, services: Sequence[str]) -> Iterator[StandInControl]:
    """The desktop stand-in (``tests/dbus_standin.py``) owning ``services`` on the bus at ``address``."""
    with running_service(address, "dbus_standin", ["--services", ",".join(services)],
                         bus_name="org.vinova.Test.StandIn") as process:
        yield StandInControl(address, process)
