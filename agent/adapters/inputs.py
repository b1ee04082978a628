"""The platform adapters behind activity_tracker's seams: input listeners, the OS idle counter, the lock.

``choose_input_source()``, ``choose_idle_clock()`` and ``choose_lock_state()`` pick the adapter for
this platform and import the platform library inside themselves, so importing this module opens
nothing. X11 today (pynput over XRecord, XScreenSaver for idle and the screen saver's state);
pynput's Windows and macOS hooks use the same :class:`PynputInputSource`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from agent.adapters.session import detect_session
from agent.seams import IdleClock, InputSink, InputSource, LockState
from contract.errors import VinovaError

logger = logging.getLogger(__name__)

LISTENER_READY_TIMEOUT_SECONDS = 5.0
LISTENER_STOP_TIMEOUT_SECONDS = 2.0
SCREEN_SAVER_ON = 1  # ScreenSaverOn in the MIT-SCREEN-SAVER reply (Xlib.ext.screensaver.StateOn)


def _open_x_display(name: str | None) -> Any:
    """Open an X connection (python-xlib); VinovaError if there is no X server to talk to."""
    if not name:
        raise VinovaError("no X display: DISPLAY is not set, so input activity cannot be observed")
    try:
        from Xlib import display as xdisplay
        from Xlib.error import DisplayError

        try:
            return xdisplay.Display(name)
        except (DisplayError, OSError) as exc:
            raise VinovaError(f"cannot connect to the X display {name}: {exc}") from exc
    except ImportError as exc:  # python-xlib comes with pynput on Linux
        raise VinovaError("python-xlib is not installed: input activity cannot be observed") from exc


def _check_x_record_extension(display_name: str | None) -> None:
    """pynput's X listeners need the RECORD extension; without it they would hang or die silently."""
    connection = _open_x_display(display_name)
    try:
        if not connection.has_extension("RECORD"):
            raise VinovaError(
                f"the X server at {display_name} lacks the RECORD extension, which input counting "
                "needs (enable it, e.g. Load \"record\" in xorg.conf)"
            )
    finally:
        connection.close()


def _uses_x11() -> bool:
    return sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd"))


class PynputInputSource:
    """The pynput adapter: X11 today (XRecord), and the same code on Windows/macOS hooks.

    Two listener threads (keyboard, mouse) belong to pynput; they call the sink directly.
    On X they listen on the display named by ``DISPLAY``. A pynput listener is a thread and
    cannot be started twice, so :meth:`restart` makes new ones.
    """

    def __init__(self) -> None:
        self._listeners: list[Any] = []
        self._lock = threading.Lock()

    def start(self, sink: InputSink) -> None:
        """Start both listeners and wait (bounded) until they listen; VinovaError if they cannot."""
        with self._lock:
            if self._listeners:
                return
            self._start_locked(sink)
        logger.info("input listeners started")

    def restart(self, sink: InputSink) -> None:
        """Stop what is left of the listeners (dead or alive) and start new ones; VinovaError if it cannot."""
        with self._lock:
            self._stop_locked()
            self._start_locked(sink)

    def _start_locked(self, sink: InputSink) -> None:
        if _uses_x11():
            _check_x_record_extension(os.environ.get("DISPLAY"))
        from pynput import keyboard, mouse

        def on_press(key: Any, injected: bool = False) -> None:
            sink.on_key_press()  # the key itself is dropped here, unseen

        def on_click(x: int, y: int, button: Any, pressed: bool, injected: bool = False) -> None:
            if pressed:
                sink.on_click()

        def on_scroll(x: int, y: int, dx: int, dy: int, injected: bool = False) -> None:
            steps = abs(dx) + abs(dy)
            if steps:
                sink.on_scroll(steps)

        def on_move(x: int, y: int, injected: bool = False) -> None:
            sink.on_move(x, y)

        listeners = [
            keyboard.Listener(on_press=on_press),
            mouse.Listener(on_move=on_move, on_click=on_click, on_scroll=on_scroll),
        ]
        for listener in listeners:
            listener.start()
        self._listeners = listeners
        for listener in listeners:
            if not _wait_until_listening(listener, LISTENER_READY_TIMEOUT_SECONDS):
                self._stop_locked()
                raise VinovaError("the input listener did not start (is the display reachable?)")

    @property
    def running(self) -> bool:
        """Whether both listener threads are alive (False after stop or if the X server went away).

        Lock-free (the list is replaced, never changed in place): the window asks on the Tk thread
        and must not wait out a restart on the scheduler thread.
        """
        listeners = self._listeners
        return bool(listeners) and all(listener.is_alive() for listener in listeners)

    def stop(self) -> None:
        """Stop both listeners within ~2 s (idempotent)."""
        with self._lock:
            if not self._listeners:
                return
            self._stop_locked()
        logger.info("input listeners stopped")

    def _stop_locked(self) -> None:
        deadline = time.monotonic() + LISTENER_STOP_TIMEOUT_SECONDS
        stopping = []
        for listener in self._listeners:
            if not listener.is_alive():
                # A dead listener's stop() would wait for a readiness that never comes, and pynput's
                # join() waits out its whole timeout for an end-of-run note that never came; its X
                # connections were left open by the exception that ended it.
                _close_x_connections(listener)
                continue
            try:
                listener.stop()
            except Exception:  # its X connection is gone (killed, server restarted): it is ending anyway
                logger.debug("stopping an input listener failed", exc_info=True)
            _unblock_x_record(listener)
            stopping.append(listener)
        for listener in stopping:
            listener.join(max(0.05, deadline - time.monotonic()))
            if listener.is_alive():
                logger.warning(
                    "an input listener thread did not end within %s s", LISTENER_STOP_TIMEOUT_SECONDS
                )
        self._listeners = []


def _wait_until_listening(listener: Any, timeout_seconds: float) -> bool:
    """pynput's own ``wait()`` blocks forever if the thread dies before it is ready; bound it."""
    condition = getattr(listener, "_condition", None)
    if condition is None:
        listener.wait()
        return True
    with condition:
        return bool(
            condition.wait_for(
                lambda: getattr(listener, "_ready", True) or not listener.is_alive(), timeout_seconds
            )
        ) and listener.is_alive()


def _unblock_x_record(listener: Any) -> None:
    """pynput 1.8 on X: ``stop()`` leaves the RECORD thread blocked until the next X event.

    Disabling the record context from the listener's control connection wakes it at once
    (see DEVELOPERS.md). The attributes exist only on the Xlib backend, hence getattr.
    """
    control = getattr(listener, "_display_stop", None)
    context = getattr(listener, "_context", None)
    if control is None or context is None:
        return
    try:
        control.record_disable_context(context)
        control.flush()
    except Exception:  # the listener may already have closed its connection; it is ending anyway
        logger.debug("record context already closed", exc_info=True)


def _close_x_connections(listener: Any) -> None:
    """Close a dead Xlib listener's two connections (the attributes exist only on that backend)."""
    for name in ("_display_record", "_display_stop"):
        connection = getattr(listener, name, None)
        if connection is None:
            continue
        try:
            connection.close()
        except Exception:  # already closed by the server that killed it
            logger.debug("closing a dead listener's X connection failed", exc_info=True)


def choose_input_source(
    idle_clock: IdleClock | None = None, environ: Mapping[str, str] | None = None
) -> InputSource:
    """The input adapter for this platform; VinovaError when input cannot be observed here.

    pynput on X11, Windows and macOS; on Wayland evdev, or input read off ``idle_clock`` uncounted.
    """
    session = detect_session(os.environ if environ is None else environ)
    if session.is_wayland:
        from agent.adapters.wayland_choice import wayland_input_source

        return wayland_input_source(idle_clock)
    if _uses_x11():
        _check_x_record_extension(os.environ.get("DISPLAY"))
    try:
        import pynput  # noqa: F401  -- only to fail early and clearly
    except ImportError as exc:
        raise VinovaError("pynput is not installed: input activity cannot be observed") from exc
    return PynputInputSource()


class XScreenSaverIdleClock:
    """The X server's idle counter and screen-saver state (MIT-SCREEN-SAVER extension); owns one X connection.

    Also the X :class:`agent.seams.LockState`: X screen lockers either are the screen saver
    (xscreensaver, light-locker) or are started by it (xss-lock), so "screen saver on" is "locked"
    (and a blanked screen has nobody working at it either).
    """

    def __init__(self, connection: Any) -> None:
        from Xlib import error as xerror

        # What Xlib raises when the server refuses the request or has gone away.
        self._x_errors: tuple[type[BaseException], ...] = (
            xerror.XError,
            xerror.ConnectionClosedError,
            OSError,
        )
        self._connection = connection
        self._root = connection.screen().root
        self._lock = threading.Lock()
        self._failing = False

    def seconds_since_last_input(self) -> float | None:
        """Seconds since the last input anywhere on this X server; None if the server stopped answering."""
        with self._lock:
            if self._connection is None:
                return None
            try:
                idle_milliseconds = self._root.screensaver_query_info().idle
            except self._x_errors as exc:
                if not self._failing:
                    logger.warning("the X idle counter stopped answering: %s", exc)
                self._failing = True
                return None
            self._failing = False
            return int(idle_milliseconds) / 1000.0

    def screen_locked(self) -> bool | None:
        """Whether the X screen saver is on (``xset s activate`` turns it on); None if X stopped answering."""
        with self._lock:
            if self._connection is None:
                return None
            try:
                state = self._root.screensaver_query_info().state
            except self._x_errors as exc:
                if not self._failing:
                    logger.warning("the X screen saver state stopped answering: %s", exc)
                self._failing = True
                return None
            self._failing = False
            return bool(state == SCREEN_SAVER_ON)

    def close(self) -> None:
        """Close the X connection (idempotent)."""
        with self._lock:
            if self._connection is not None:
                try:
                    self._connection.close()
                except Exception:  # closing a dead connection
                    logger.debug("closing the X connection failed", exc_info=True)
                self._connection = None


def choose_idle_clock(environ: Mapping[str, str] | None = None) -> IdleClock | None:
    """The OS idle counter: XScreenSaver on X11, GetLastInputInfo on Windows, Quartz on macOS (which also
    says which privacy permissions are missing), the compositor's or desktop's on Wayland; None where
    there is none (use the last-input time)."""
    environ = os.environ if environ is None else environ
    session = detect_session(environ)
    if session.is_wayland:
        from agent.adapters.wayland_choice import wayland_idle_clock

        return wayland_idle_clock(session, environ)
    if sys.platform in ("win32", "darwin"):
        from agent.adapters.idle_clocks import load_native_idle_clock

        return load_native_idle_clock(sys.platform)
    if not _uses_x11():
        return None
    try:
        connection = _open_x_display(os.environ.get("DISPLAY"))
    except VinovaError as exc:
        logger.info("no X idle counter (%s); idle is judged from the last input seen", exc)
        return None
    if not connection.has_extension("MIT-SCREEN-SAVER"):
        connection.close()
        logger.info("the X server has no MIT-SCREEN-SAVER extension; idle is judged from the last input")
        return None
    return XScreenSaverIdleClock(connection)


def choose_lock_state(
    idle_clock: IdleClock | None, environ: Mapping[str, str] | None = None
) -> LockState | None:
    """The screen-lock reader: on X the idle clock's own connection answers both; on Wayland the
    desktop's screen saver or logind over D-Bus; None elsewhere (logged)."""
    if isinstance(idle_clock, XScreenSaverIdleClock):
        return idle_clock
    environ = os.environ if environ is None else environ
    session = detect_session(environ)
    if session.is_wayland:
        from agent.adapters.wayland_choice import wayland_lock_state

        return wayland_lock_state(session, environ)
    logger.info("no screen-lock state here; a locked screen counts as idle once the idle threshold passes")
    return None
