"""The platform adapters behind activity_tracker's seams: input listeners and the OS idle counter.

``choose_input_source()`` and ``choose_idle_clock()`` pick the adapter for this platform and import
the platform library inside themselves, so importing this module opens nothing.
X11 today (pynput over XRecord, XScreenSaver for idle); pynput's Windows and macOS hooks use the
same :class:`PynputInputSource`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any

from agent.seams import IdleClock, InputSink, InputSource
from contract.errors import VinovaError

logger = logging.getLogger(__name__)

LISTENER_READY_TIMEOUT_SECONDS = 5.0
LISTENER_STOP_TIMEOUT_SECONDS = 2.0


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
    On X they listen on the display named by ``DISPLAY``.
    """

    def __init__(self) -> None:
        self._listeners: list[Any] = []
        self._lock = threading.Lock()

    def start(self, sink: InputSink) -> None:
        """Start both listeners and wait (bounded) until they listen; VinovaError if they cannot."""
        with self._lock:
            if self._listeners:
                return
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
        logger.info("input listeners started")

    @property
    def running(self) -> bool:
        """Whether both listener threads are alive (False after stop or if the X server went away)."""
        with self._lock:
            return bool(self._listeners) and all(listener.is_alive() for listener in self._listeners)

    def stop(self) -> None:
        """Stop both listeners within ~2 s (idempotent)."""
        with self._lock:
            if not self._listeners:
                return
            self._stop_locked()
        logger.info("input listeners stopped")

    def _stop_locked(self) -> None:
        deadline = time.monotonic() + LISTENER_STOP_TIMEOUT_SECONDS
        for listener in self._listeners:
            listener.stop()
            _unblock_x_record(listener)
        for listener in self._listeners:
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


def choose_input_source() -> InputSource:
    """The input adapter for this platform (pynput); VinovaError when input cannot be observed here."""
    if _uses_x11():
        _check_x_record_extension(os.environ.get("DISPLAY"))
    try:
        import pynput  # noqa: F401  -- only to fail early and clearly
    except ImportError as exc:
        raise VinovaError("pynput is not installed: input activity cannot be observed") from exc
    return PynputInputSource()


class XScreenSaverIdleClock:
    """The X server's idle counter (MIT-SCREEN-SAVER extension); owns one X connection."""

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

    def close(self) -> None:
        """Close the X connection (idempotent)."""
        with self._lock:
            if self._connection is not None:
                try:
                    self._connection.close()
                except Exception:  # closing a dead connection
                    logger.debug("closing the X connection failed", exc_info=True)
                self._connection = None


def choose_idle_clock() -> IdleClock | None:
    """The X idle counter where the X server offers XScreenSaver, else None (use the last-input time)."""
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
