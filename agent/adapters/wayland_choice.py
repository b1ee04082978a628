"""The adapters of a Wayland session (issue 15), chosen for :mod:`agent.adapters.inputs` and ``screen``.

wlroots (sway, Hyprland, river): the compositor's idle notification (:class:`WaylandIdleWatch`),
captures through grim, the lock from logind over D-Bus. GNOME and KDE: the desktop's D-Bus idle clock
and lock, captures through the desktop portal. Key and click counts come from evdev where this account
may read ``/dev/input``; elsewhere :class:`UncountedInputSource` turns the idle clock into "input now"
without counts. Every desktop library is imported inside the function that needs it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from agent.adapters.session import GNOME, KDE, X11, DesktopSession
from agent.seams import IdleClock, InputSink, InputSource, LockState
from contract.errors import VinovaError

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5
STOP_TIMEOUT_SECONDS = 2.0

MODE_UNCOUNTED = (
    "Keys and clicks are not counted on this Wayland desktop; activity comes from the desktop's idle "
    "signal. To count them, add yourself to the input group: sudo usermod -aG input $USER, then log in again"
)
MODE_EVDEV = "Keys and clicks are counted from the input devices (evdev) on this Wayland desktop"


class InputRelay:
    """Forwards an idle protocol's "input now" to the sink set at start (called on the reader thread)."""

    def __init__(self) -> None:
        self.sink: InputSink | None = None

    def __call__(self) -> None:
        sink = self.sink
        if sink is not None:
            sink.on_uncounted_input()


class UncountedInputSource:
    """An :class:`agent.seams.InputSource` without counts: input is read off an idle clock.

    One daemon thread reads ``seconds_since_last_input`` every ``poll_seconds``: a reading that drops
    below the previous one, or is within one poll of now, is input at that moment
    (``sink.on_uncounted_input``). A clock with an input callback (the Wayland idle watch) also calls
    the sink through ``relay`` at once. The Wayland watch reads 0 up to a second after the last input,
    so the second after a burst may be marked active too.
    """

    counts_input = False

    def __init__(
        self, idle_clock: IdleClock, relay: InputRelay | None = None, poll_seconds: float = POLL_SECONDS
    ) -> None:
        self._idle_clock = idle_clock
        self._relay = relay
        self._poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous: float | None = None

    def start(self, sink: InputSink) -> None:
        """Start the poll thread (idempotent)."""
        with self._lock:
            if self.running:
                return
            self._stop = threading.Event()
            if self._relay is not None:
                self._relay.sink = sink
            self._thread = threading.Thread(
                target=self._run, args=(sink, self._stop), name="uncounted-input", daemon=True
            )
            self._thread.start()
        logger.info("activity from the desktop's idle signal (keys and clicks not counted)")

    def restart(self, sink: InputSink) -> None:
        """Stop and start again."""
        self.stop()
        self.start(sink)

    def poll_once(self, sink: InputSink) -> bool:
        """Read the idle clock once; True (and the sink told) when that reading means input."""
        seconds = self._idle_clock.seconds_since_last_input()
        previous, self._previous = self._previous, seconds
        if seconds is None:
            return False
        if seconds < self._poll_seconds or (previous is not None and seconds < previous):
            sink.on_uncounted_input()
            return True
        return False

    def _run(self, sink: InputSink, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once(sink)
            except Exception:  # a job boundary: one bad reading must not end activity tracking
                logger.exception("reading the idle clock failed")
            stop.wait(self._poll_seconds)

    @property
    def running(self) -> bool:
        """Whether the poll thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def stop(self) -> None:
        """Stop the poll thread within ~2 s (idempotent)."""
        with self._lock:
            self._stop.set()
            if self._relay is not None:
                self._relay.sink = None
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(STOP_TIMEOUT_SECONDS)


class WlrootsIdleClock:
    """The compositor's idle watch with its relay; ``close`` hangs up (an IdleClock)."""

    def __init__(self, watch: Any, relay: InputRelay) -> None:
        self.watch = watch
        self.relay = relay

    def seconds_since_last_input(self) -> float | None:
        """Seconds since the last input on this seat; None once the compositor is gone."""
        value: float | None = self.watch.seconds_since_last_input()
        return value

    def close(self) -> None:
        """Stop the watch (idempotent)."""
        self.watch.stop()


def wayland_idle_clock(session: DesktopSession, environ: Mapping[str, str]) -> IdleClock | None:
    """The idle clock of this Wayland desktop; None (logged) when it offers none.

    GNOME: Mutter's IdleMonitor over D-Bus first. KDE: the idle protocol KWin offers first, because
    ``GetSessionIdleTime`` answers 0 on Plasma Wayland; D-Bus only as the fallback. Others: the protocol.
    """
    if session.desktop == GNOME:
        return _dbus_idle_clock(session, environ) or _protocol_idle_clock(environ)
    if session.desktop == KDE:
        return _protocol_idle_clock(environ) or _dbus_idle_clock(session, environ)
    return _protocol_idle_clock(environ)


def _dbus_idle_clock(session: DesktopSession, environ: Mapping[str, str]) -> IdleClock | None:
    from agent.adapters.desktop_dbus import choose_dbus_idle_clock

    return choose_dbus_idle_clock(session.desktop, environ)


def _protocol_idle_clock(environ: Mapping[str, str]) -> IdleClock | None:
    from agent.adapters.wayland import WaylandError, WaylandIdleWatch, connect

    relay = InputRelay()
    try:
        watch = WaylandIdleWatch(connect(environ), on_input=relay)
        watch.start()
    except (WaylandError, OSError) as exc:
        logger.info("no Wayland idle notification (%s); idle is judged from the last input seen", exc)
        return None
    logger.info("idle time from the compositor's %s", watch.protocol)
    return WlrootsIdleClock(watch, relay)


def wayland_input_source(
    idle_clock: IdleClock | None,
    access: Callable[[], tuple[bool, str]] | None = None,
) -> InputSource:
    """evdev when this account may read ``/dev/input``, else input read off the idle clock, uncounted.

    VinovaError when neither is possible (no readable devices and no idle clock).
    """
    try:
        from agent.adapters.evdev_input import EvdevInputSource, evdev_access
    except ImportError as exc:  # evdev comes with pynput on Linux; without it counts are unavailable
        logger.info("evdev is not available (%s): keys and clicks are not counted", exc)
        readable, words = False, MODE_UNCOUNTED
    else:
        readable, words = (access or evdev_access)()
        if readable:
            logger.info("%s", words)
            return EvdevInputSource()
    if idle_clock is None:
        raise VinovaError(f"{words}, and the desktop gives no idle signal: activity cannot be observed")
    logger.info("%s (%s)", MODE_UNCOUNTED, words)
    relay = idle_clock.relay if isinstance(idle_clock, WlrootsIdleClock) else None
    return UncountedInputSource(idle_clock, relay)


def wayland_lock_state(session: DesktopSession, environ: Mapping[str, str]) -> LockState | None:
    """The desktop's screen saver or logind's LockedHint over D-Bus; None (logged) when neither answers."""
    from agent.adapters.desktop_dbus import choose_dbus_lock_state

    return choose_dbus_lock_state(session.desktop, environ)


def counting_words(source: InputSource | None, session: DesktopSession) -> str:
    """Which counting mode is in force, in plain words for the window."""
    if source is None:
        return "Keyboard and mouse activity cannot be observed here"
    if not getattr(source, "counts_input", True):
        return MODE_UNCOUNTED
    if session.is_wayland:
        return MODE_EVDEV
    return "Keys and clicks are counted (X11)" if session.kind == X11 else "Keys and clicks are counted"
