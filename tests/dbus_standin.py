"""A stand-in for the desktop D-Bus services the agent reads, run as ``python -m dbus_standin`` on a test bus.

It owns, as asked with ``--services`` (comma-separated):

* ``mutter``: ``org.gnome.Mutter.IdleMonitor`` at ``/org/gnome/Mutter/IdleMonitor/Core`` —
  ``GetIdletime() -> t`` (ms), ``AddIdleWatch(t) -> u``, ``AddUserActiveWatch() -> u``, ``RemoveWatch(u)``;
* ``screensaver``: ``org.freedesktop.ScreenSaver`` at ``/ScreenSaver`` and ``/org/freedesktop/ScreenSaver``
  (as KDE's kscreenlocker) — ``GetActive() -> b``, ``GetActiveTime() -> u``, ``GetSessionIdleTime() -> u``
  (ms, as KDE), ``SetActive(b) -> b``, ``Lock()``, ``SimulateUserActivity()``, ``Inhibit(ss) -> u``,
  ``UnInhibit(u)``;
* ``gnome-screensaver``: ``org.gnome.ScreenSaver`` at ``/org/gnome/ScreenSaver`` (as gnome-shell) —
  ``GetActive() -> b``, ``GetActiveTime() -> u``, ``SetActive(b)``, ``Lock()``;
* ``login1``: ``org.freedesktop.login1`` — ``Manager.GetSession(s) -> o`` (session "c1" only),
  ``Manager.GetSessionByPID(u) -> o`` (always "not in a session", like a process started by a user
  service), and ``Session.LockedHint`` through ``org.freedesktop.DBus.Properties`` at ``session/c1`` and
  ``session/auto``.

The test steers it through ``org.vinova.Test.StandIn`` at ``/org/vinova/Test/StandIn``:
``SetIdleMilliseconds(t)``, ``SetLocked(b)`` (every lock answer, with ``ActiveChanged`` signals),
``SetWrongTypes(b)`` (answers carry strings instead of numbers and booleans) and ``SetSilent(b)`` (desktop
calls get no reply at all, as a hung service).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from jeepney import DBusAddress, HeaderFields, Message, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, Proxy, open_dbus_connection

CONTROL_NAME = "org.vinova.Test.StandIn"
CONTROL_PATH = "/org/vinova/Test/StandIn"
SESSION_ID = "c1"
SESSION_PATH = f"/org/freedesktop/login1/session/{SESSION_ID}"
AUTO_SESSION_PATH = "/org/freedesktop/login1/session/auto"
SERVICE_NAMES = {
    "mutter": "org.gnome.Mutter.IdleMonitor",
    "screensaver": "org.freedesktop.ScreenSaver",
    "gnome-screensaver": "org.gnome.ScreenSaver",
    "login1": "org.freedesktop.login1",
}
UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"

Reply = tuple[str, tuple[Any, ...]]


class StandIn:
    """The services' state and their method table."""

    def __init__(self, connection: DBusConnection, services: set[str]) -> None:
        self.connection = connection
        self.services = services
        self.idle_milliseconds = 0
        self.locked = False
        self.wrong_types = False
        self.silent = False
        self.next_cookie = 1

    def methods(self) -> dict[tuple[str, str, str], Callable[[tuple[Any, ...]], Reply]]:
        """(path, interface, member) → handler of the call's body, returning (signature, body)."""
        table: dict[tuple[str, str, str], Callable[[tuple[Any, ...]], Reply]] = {}
        control = (CONTROL_PATH, CONTROL_NAME)
        table[(*control, "SetIdleMilliseconds")] = self._set_idle
        table[(*control, "SetLocked")] = lambda body: self._set_locked(bool(body[0]))
        table[(*control, "SetWrongTypes")] = lambda body: self._set_flag("wrong_types", body)
        table[(*control, "SetSilent")] = lambda body: self._set_flag("silent", body)
        if "mutter" in self.services:
            mutter = ("/org/gnome/Mutter/IdleMonitor/Core", "org.gnome.Mutter.IdleMonitor")
            table[(*mutter, "GetIdletime")] = lambda body: self._number("t", self.idle_milliseconds)
            table[(*mutter, "AddIdleWatch")] = lambda body: self._cookie()
            table[(*mutter, "AddUserActiveWatch")] = lambda body: self._cookie()
            table[(*mutter, "RemoveWatch")] = lambda body: ("", ())
        if "screensaver" in self.services:
            for path in ("/ScreenSaver", "/org/freedesktop/ScreenSaver"):
                saver = (path, "org.freedesktop.ScreenSaver")
                table[(*saver, "GetActive")] = lambda body: self._boolean(self.locked)
                table[(*saver, "GetActiveTime")] = lambda body: self._number("u", 0)
                table[(*saver, "GetSessionIdleTime")] = lambda body: self._number("u", self.idle_milliseconds)
                table[(*saver, "SetActive")] = self._set_active
                table[(*saver, "Lock")] = lambda body: self._set_locked(True)
                table[(*saver, "SimulateUserActivity")] = self._user_activity
                table[(*saver, "Inhibit")] = lambda body: self._cookie()
                table[(*saver, "UnInhibit")] = lambda body: ("", ())
        if "gnome-screensaver" in self.services:
            shield = ("/org/gnome/ScreenSaver", "org.gnome.ScreenSaver")
            table[(*shield, "GetActive")] = lambda body: self._boolean(self.locked)
            table[(*shield, "GetActiveTime")] = lambda body: self._number("u", 0)
            table[(*shield, "SetActive")] = lambda body: self._set_locked(bool(body[0]))
            table[(*shield, "Lock")] = lambda body: self._set_locked(True)
        if "login1" in self.services:
            manager = ("/org/freedesktop/login1", "org.freedesktop.login1.Manager")
            table[(*manager, "GetSession")] = self._get_session
            table[(*manager, "GetSessionByPID")] = self._not_in_session
            for path in (SESSION_PATH, AUTO_SESSION_PATH):
                table[(path, "org.freedesktop.DBus.Properties", "Get")] = self._session_property
        return table

    # ------------------------------------------------------------------ answers
    def _number(self, signature: str, value: int) -> Reply:
        return ("s", (str(value),)) if self.wrong_types else (signature, (value,))

    def _boolean(self, value: bool) -> Reply:
        return ("s", ("yes" if value else "no",)) if self.wrong_types else ("b", (value,))

    def _cookie(self) -> Reply:
        self.next_cookie += 1
        return "u", (self.next_cookie,)

    def _set_idle(self, body: tuple[Any, ...]) -> Reply:
        self.idle_milliseconds = int(body[0])
        return "", ()

    def _user_activity(self, body: tuple[Any, ...]) -> Reply:
        self.idle_milliseconds = 0
        return "", ()

    def _set_flag(self, name: str, body: tuple[Any, ...]) -> Reply:
        setattr(self, name, bool(body[0]))
        return "", ()

    def _set_locked(self, locked: bool) -> Reply:
        changed = locked != self.locked
        self.locked = locked
        if changed:
            for service, path, interface in (
                ("screensaver", "/ScreenSaver", "org.freedesktop.ScreenSaver"),
                ("screensaver", "/org/freedesktop/ScreenSaver", "org.freedesktop.ScreenSaver"),
                ("gnome-screensaver", "/org/gnome/ScreenSaver", "org.gnome.ScreenSaver"),
            ):
                if service in self.services:
                    emitter = DBusAddress(path, interface=interface)
                    self.connection.send(new_signal(emitter, "ActiveChanged", "b", (locked,)))
        return "", ()

    def _set_active(self, body: tuple[Any, ...]) -> Reply:
        self._set_locked(bool(body[0]))
        return "b", (True,)

    def _get_session(self, body: tuple[Any, ...]) -> Reply:
        if body[0] != SESSION_ID:
            raise LookupError(f"No session '{body[0]}' known")
        return "o", (SESSION_PATH,)

    def _not_in_session(self, body: tuple[Any, ...]) -> Reply:
        raise LookupError(f"PID {body[0]} does not belong to any known session")

    def _session_property(self, body: tuple[Any, ...]) -> Reply:
        interface, name = body
        if (interface, name) != ("org.freedesktop.login1.Session", "LockedHint"):
            raise LookupError(f"no property {interface}.{name} here")
        value = ("s", "yes" if self.locked else "no") if self.wrong_types else ("b", self.locked)
        return "v", (value,)


def serve(address: str, services: set[str]) -> None:
    """Own the names and answer calls until the bus connection closes or the process is stopped."""
    connection = open_dbus_connection(address)
    bus = Proxy(message_bus, connection, timeout=10)
    for service in sorted(services):
        bus.RequestName(SERVICE_NAMES[service], 0)
    bus.RequestName(CONTROL_NAME, 0)  # last: a test waits for this name, so every service is up by then
    stand_in = StandIn(connection, services)
    table = stand_in.methods()
    while True:
        message = connection.receive()
        if message.header.message_type is not MessageType.method_call:
            continue
        fields = message.header.fields
        key = (fields.get(HeaderFields.path), fields.get(HeaderFields.interface),
               fields.get(HeaderFields.member))
        if stand_in.silent and key[1] != CONTROL_NAME:
            continue
        connection.send(_answer(message, table.get(key), key))


def _answer(
    message: Message, handler: Callable[[tuple[Any, ...]], Reply] | None, key: tuple[Any, ...]
) -> Message:
    if handler is None:
        return new_error(message, UNKNOWN_METHOD, "s", (f"no method {key[1]}.{key[2]} at {key[0]}",))
    try:
        signature, body = handler(tuple(message.body))
    except LookupError as exc:
        return new_error(message, "org.freedesktop.DBus.Error.Failed", "s", (str(exc),))
    return new_method_return(message, signature or None, body)


def main(argv: list[str]) -> int:
    """``python -m dbus_standin --services mutter,screensaver`` (the bus is DBUS_SESSION_BUS_ADDRESS's)."""
    import os

    parser = argparse.ArgumentParser(prog="dbus_standin")
    parser.add_argument("--services", required=True, help="comma-separated: " + ", ".join(SERVICE_NAMES))
    arguments = parser.parse_args(argv)
    services = {name.strip() for name in arguments.services.split(",") if name.strip()}
    unknown = services - set(SERVICE_NAMES)
    if unknown:
        parser.error(f"unknown services: {', '.join(sorted(unknown))}")
    try:
        serve(os.environ["DBUS_SESSION_BUS_ADDRESS"], services)
    except (ConnectionError, EOFError):
        return 0  # the bus went away: the test is over
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
