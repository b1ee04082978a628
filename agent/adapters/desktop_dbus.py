"""Idle time and screen lock from the Wayland desktops over D-Bus: GNOME, KDE Plasma, and logind (issue 15).

* GNOME: mutter's ``org.gnome.Mutter.IdleMonitor`` at ``/org/gnome/Mutter/IdleMonitor/Core``,
  ``GetIdletime() -> t``, milliseconds since the last input on the seat. The lock is gnome-shell's
  ``org.gnome.ScreenSaver.GetActive() -> b`` at ``/org/gnome/ScreenSaver``.
* KDE Plasma: kscreenlocker's ``org.freedesktop.ScreenSaver`` at ``/ScreenSaver`` (and
  ``/org/freedesktop/ScreenSaver``). ``GetSessionIdleTime() -> u`` is in **milliseconds** there: it returns
  ``KIdleTime::idleTime()`` (kscreenlocker ``interface.cpp``), and KIdleTime documents every time it gives
  in milliseconds — not the seconds of the freedesktop idle-inhibition draft. Under Plasma *on Wayland*
  KIdleTime's Wayland plugin cannot poll (its ``forcePollRequest()`` logs "This plugin does not support
  polling idle time" and returns 0), so the answer is always 0 there; a clock that keeps answering exactly
  0 is taken as "cannot tell" (None) rather than "always active" (see :class:`ScreenSaverIdleClock`).
  ``GetActive() -> b`` is the lock.
* Any desktop, wlroots too: logind's session ``LockedHint`` (``org.freedesktop.login1`` on the system bus),
  which the desktop's locker sets; the session is ``XDG_SESSION_ID``'s, else ``GetSessionByPID``'s, else
  logind's ``auto`` (the caller's, or the user's display session).

Every reading blocks at most about half a second and never raises: None means "cannot tell right now".
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agent.adapters.dbus_bus import (
    DEFAULT_TIMEOUT_SECONDS,
    BusConnection,
    DbusUnanswered,
    Deadline,
    ServiceHealth,
    session_bus_address,
    system_bus_address,
)

if TYPE_CHECKING:
    from agent.seams import IdleClock, LockState

logger = logging.getLogger(__name__)

MUTTER_IDLE_NAME = "org.gnome.Mutter.IdleMonitor"
MUTTER_IDLE_PATH = "/org/gnome/Mutter/IdleMonitor/Core"
GNOME_SCREENSAVER_NAME = "org.gnome.ScreenSaver"
GNOME_SCREENSAVER_PATH = "/org/gnome/ScreenSaver"
FREEDESKTOP_SCREENSAVER_NAME = "org.freedesktop.ScreenSaver"
FREEDESKTOP_SCREENSAVER_PATHS = ("/ScreenSaver", "/org/freedesktop/ScreenSaver")
LOGIND_NAME = "org.freedesktop.login1"
LOGIND_PATH = "/org/freedesktop/login1"
LOGIND_MANAGER = "org.freedesktop.login1.Manager"
LOGIND_SESSION = "org.freedesktop.login1.Session"
LOGIND_AUTO_SESSION_PATH = "/org/freedesktop/login1/session/auto"
PROPERTIES = "org.freedesktop.DBus.Properties"

GNOME = "gnome"
KDE = "kde"
# A millisecond idle counter read every few seconds is almost never exactly 0; this many zeros in a row
# is Plasma on Wayland, whose counter never moves.
ZERO_READINGS_MEANING_NO_COUNTER = 3


def _unsigned(body: tuple[Any, ...]) -> int | None:
    """The reply's one unsigned integer, or None for any other shape (bool is not a number here)."""
    if len(body) == 1 and isinstance(body[0], int) and not isinstance(body[0], bool) and body[0] >= 0:
        return int(body[0])
    return None


def _boolean(body: tuple[Any, ...]) -> bool | None:
    """The reply's one boolean, or None for any other shape."""
    if len(body) == 1 and isinstance(body[0], bool):
        return body[0]
    return None


class MutterIdleClock:
    """Seconds since the last input, from GNOME's mutter (``GetIdletime``, ms); scheduler thread, ≤ ~0.5 s."""

    def __init__(self, bus: BusConnection, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.bus = bus
        self.timeout_seconds = timeout_seconds
        self._health = ServiceHealth("GNOME's idle monitor (org.gnome.Mutter.IdleMonitor)")

    def seconds_since_last_input(self) -> float | None:
        """Seconds since the last key, click or move on this seat; None when mutter does not answer."""
        try:
            seconds = self.read()
        except DbusUnanswered as exc:
            self._health.failed(str(exc))
            return None
        self._health.answered()
        return seconds

    def read(self) -> float:
        """Seconds since the last input; raises DbusUnanswered with the reason when there is no answer."""
        signature, body = self.bus.call(MUTTER_IDLE_NAME, MUTTER_IDLE_PATH, MUTTER_IDLE_NAME, "GetIdletime",
                                        timeout_seconds=self.timeout_seconds)
        milliseconds = _unsigned(body)
        if milliseconds is None:
            raise DbusUnanswered(f"GetIdletime answered {signature!r}, not one unsigned number")
        return milliseconds / 1000.0

    def close(self) -> None:
        """Close the D-Bus connection; safe to call twice."""
        self.bus.close()


class ScreenSaverIdleClock:
    """Seconds since the last input, from KDE's ``org.freedesktop.ScreenSaver.GetSessionIdleTime`` (ms).

    Scheduler thread; blocks ≤ ~0.5 s. Answers None after :data:`ZERO_READINGS_MEANING_NO_COUNTER` exact
    zeros in a row (Plasma on Wayland, whose counter never moves), until a non-zero reading comes.
    """

    def __init__(self, bus: BusConnection, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.bus = bus
        self.timeout_seconds = timeout_seconds
        self._paths = list(FREEDESKTOP_SCREENSAVER_PATHS)
        self._zero_streak = 0
        self._lock = threading.Lock()
        self._health = ServiceHealth("the desktop's screen saver (org.freedesktop.ScreenSaver)")
        self._no_counter = ServiceHealth("the desktop's idle counter (GetSessionIdleTime)")

    def seconds_since_last_input(self) -> float | None:
        """Seconds since the last input; None when the service does not answer or its counter never moves."""
        with self._lock:
            try:
                seconds = self.read()
            except DbusUnanswered as exc:
                self._health.failed(str(exc))
                return None
            self._health.answered()
            self._zero_streak = self._zero_streak + 1 if seconds == 0 else 0
            if self._zero_streak >= ZERO_READINGS_MEANING_NO_COUNTER:
                self._no_counter.failed("it answers exactly 0 every time: this desktop keeps no idle counter "
                                        "over D-Bus (Plasma on Wayland)")
                return None
            self._no_counter.answered()
            return seconds

    def read(self) -> float:
        """Seconds since the last input; raises DbusUnanswered with the reason when there is no answer."""
        deadline = Deadline(self.timeout_seconds)
        reason = "no answer"
        # kscreenlocker registers both paths; the one that answered last is tried first.
        for path in list(self._paths):
            try:
                signature, body = self.bus.call(
                    FREEDESKTOP_SCREENSAVER_NAME, path, FREEDESKTOP_SCREENSAVER_NAME, "GetSessionIdleTime",
                    timeout_seconds=deadline.remaining(),
                )
            except DbusUnanswered as exc:
                reason = str(exc)
                if deadline.remaining() <= 0:
                    break
                continue
            milliseconds = _unsigned(body)
            if milliseconds is None:
                reason = f"GetSessionIdleTime answered {signature!r}, not one unsigned number"
                continue
            if path != self._paths[0]:
                self._paths.remove(path)
                self._paths.insert(0, path)
            return milliseconds / 1000.0
        raise DbusUnanswered(reason)

    def close(self) -> None:
        """Close the D-Bus connection; safe to call twice."""
        self.bus.close()


class LockSource:
    """One place that can say whether the screen is locked: a D-Bus method or property answering a boolean."""

    def __init__(
        self, description: str, bus: BusConnection, destination: str, path: str, interface: str
    ) -> None:
        self.description = description
        self.bus = bus
        self.destination = destination
        self.path = path
        self.interface = interface
        self.health = ServiceHealth(description)

    def read(self, timeout_seconds: float) -> bool:
        """True while locked; raises DbusUnanswered when there is no usable answer."""
        signature, body = self.bus.call(self.destination, self.path, self.interface, "GetActive",
                                        timeout_seconds=timeout_seconds)
        value = _boolean(body)
        if value is None:
            raise DbusUnanswered(f"GetActive answered {signature!r}, not a boolean")
        return value


class LogindLockSource(LockSource):
    """logind's ``LockedHint`` of this session (system bus), for any desktop whose locker sets it."""

    def __init__(self, bus: BusConnection, session_id: str | None, pid: int) -> None:
        super().__init__("logind's session lock hint (org.freedesktop.login1)", bus, LOGIND_NAME,
                         LOGIND_AUTO_SESSION_PATH, LOGIND_SESSION)
        self.session_id = session_id
        self.pid = pid
        self._session_path: str | None = None

    def read(self, timeout_seconds: float) -> bool:
        """True while logind says the session is locked; raises DbusUnanswered otherwise."""
        deadline = Deadline(timeout_seconds)
        path = self._session_path or self._find_session(deadline)
        try:
            signature, body = self.bus.call(LOGIND_NAME, path, PROPERTIES, "Get", "ss",
                                            (LOGIND_SESSION, "LockedHint"),
                                            timeout_seconds=deadline.remaining())
        except DbusUnanswered:
            self._session_path = None  # the session may have gone; look it up again next time
            raise
        # A property comes as a variant: (signature, value).
        variant = body[0] if len(body) == 1 else None
        if not (isinstance(variant, tuple) and len(variant) == 2 and variant[0] == "b"
                and isinstance(variant[1], bool)):
            raise DbusUnanswered(f"LockedHint came as {signature!r} {variant!r:.40}, not a boolean")
        self._session_path = path
        return bool(variant[1])

    def _find_session(self, deadline: Deadline) -> str:
        lookups: list[tuple[str, str, tuple[Any, ...]]] = []
        if self.session_id:
            lookups.append(("GetSession", "s", (self.session_id,)))
        lookups.append(("GetSessionByPID", "u", (self.pid,)))
        for method, signature, argument in lookups:
            try:
                _, body = self.bus.call(LOGIND_NAME, LOGIND_PATH, LOGIND_MANAGER, method, signature, argument,
                                        timeout_seconds=deadline.remaining())
            except DbusUnanswered as exc:
                logger.debug("logind %s: %s", method, exc)
                continue
            if len(body) == 1 and isinstance(body[0], str) and body[0].startswith("/"):
                return body[0]
        # Not in a session of its own (e.g. started by a user service): logind's "auto" is the user's display
        # session.
        return LOGIND_AUTO_SESSION_PATH


class DbusLockState:
    """Whether the screen is locked, from the first source that answers (desktop first, then logind).

    Scheduler thread; all the sources together block ≤ ``timeout_seconds`` (~0.5 s); never raises.
    """

    def __init__(
        self, sources: Sequence[LockSource], timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        self.sources = list(sources)
        self.timeout_seconds = timeout_seconds

    def screen_locked(self) -> bool | None:
        """True while locked, False while not, None when no source answers right now."""
        deadline = Deadline(self.timeout_seconds)
        for source in self.sources:
            remaining = deadline.remaining()
            if remaining <= 0:
                break
            try:
                locked = source.read(remaining)
            except DbusUnanswered as exc:
                source.health.failed(str(exc))
                continue
            source.health.answered()
            return locked
        return None

    def close(self) -> None:
        """Close every source's D-Bus connection; safe to call twice."""
        for bus in {id(source.bus): source.bus for source in self.sources}.values():
            bus.close()


def choose_dbus_idle_clock(
    desktop: str, environ: Mapping[str, str]
) -> MutterIdleClock | ScreenSaverIdleClock | None:
    """The desktop's D-Bus idle clock ("gnome": mutter, "kde": the ScreenSaver service), probed once.

    None, with the reason logged, when the desktop has none, there is no session bus, or it does not answer.
    """
    address = session_bus_address(environ)
    if desktop not in (GNOME, KDE):
        logger.info("no D-Bus idle clock for the %s desktop", desktop or "unknown")
        return None
    if address is None:
        logger.info("no D-Bus idle clock: DBUS_SESSION_BUS_ADDRESS is not set")
        return None
    bus = BusConnection(address, "the session bus")
    clock: MutterIdleClock | ScreenSaverIdleClock
    clock = MutterIdleClock(bus) if desktop == GNOME else ScreenSaverIdleClock(bus)
    try:
        seconds = clock.read()
    except DbusUnanswered as exc:
        clock.close()
        logger.info("no D-Bus idle clock for %s: %s", desktop, exc)
        return None
    logger.info("idle time from %s (%.1f s idle now)", type(clock).__name__, seconds)
    return clock


def choose_dbus_lock_state(desktop: str, environ: Mapping[str, str]) -> DbusLockState | None:
    """The screen-lock reader over D-Bus: the desktop's screen saver, then logind's LockedHint.

    Each source is asked once; those that answer are kept, in that order. None (logged) when none answers.
    """
    sources: list[LockSource] = []
    address = session_bus_address(environ)
    if address is not None:
        session = BusConnection(address, "the session bus")
        if desktop == GNOME:
            sources.append(LockSource("GNOME's screen shield (org.gnome.ScreenSaver)", session,
                                      GNOME_SCREENSAVER_NAME, GNOME_SCREENSAVER_PATH, GNOME_SCREENSAVER_NAME))
        for path in FREEDESKTOP_SCREENSAVER_PATHS:
            sources.append(LockSource("the desktop's screen saver (org.freedesktop.ScreenSaver)", session,
                                      FREEDESKTOP_SCREENSAVER_NAME, path, FREEDESKTOP_SCREENSAVER_NAME))
    system = BusConnection(system_bus_address(environ), "the system bus")
    sources.append(LogindLockSource(system, environ.get("XDG_SESSION_ID") or None, os.getpid()))
    answering: list[LockSource] = []
    reasons: list[str] = []
    for source in sources:
        if answering and source.destination == answering[-1].destination:
            continue  # one path of the freedesktop service is enough
        try:
            source.read(DEFAULT_TIMEOUT_SECONDS)
        except DbusUnanswered as exc:
            reasons.append(f"{source.description}: {exc}")
            continue
        answering.append(source)
    for bus in {id(source.bus): source.bus for source in sources if source not in answering}.values():
        if all(kept.bus is not bus for kept in answering):
            bus.close()
    if not answering:
        logger.info("no screen-lock state over D-Bus (%s)", "; ".join(reasons))
        return None
    logger.info("screen lock from %s", ", then ".join(source.description for source in answering))
    return DbusLockState(answering)


if TYPE_CHECKING:
    # The choosers return the concrete adapters (for close()); mypy checks here that each is its seam.
    def _seams(
        mutter: MutterIdleClock, kde: ScreenSaverIdleClock, lock: DbusLockState
    ) -> tuple[IdleClock, IdleClock, LockState]:
        return mutter, kde, lock
