"""The activity tracker's operating-system seams: input events in, the OS idle counter, the input hook,
the screen lock.

The real adapters live in :mod:`agent.adapters.inputs` and :mod:`agent.adapters.lock`; tests pass fakes.
"""

from __future__ import annotations

from typing import Protocol

from contract.errors import VinovaError


class ScreenshotsBlocked(VinovaError):
    """The desktop refused a screenshot (a Wayland portal's permission said no, or was dismissed).

    Raised by a monitor grabber; the engine shows it as the state "screenshots blocked by the desktop"
    and tries again at the next capture, never as a silent gap.
    """


class InputSink(Protocol):
    """Receives input events. Called on the input listener threads; must not block or raise."""

    def on_key_press(self) -> None:
        """One key went down (never which key; releases are not reported)."""

    def on_click(self) -> None:
        """One mouse button went down (scroll wheel "buttons" come as ``on_scroll``)."""

    def on_scroll(self, steps: int) -> None:
        """The wheel turned ``steps`` notches (horizontal and vertical added up, >= 1)."""

    def on_move(self, x: int, y: int) -> None:
        """The pointer moved to screen position (x, y) in pixels."""

    def on_uncounted_input(self) -> None:
        """Someone used this seat, seen by an idle protocol that gives no counts (Wayland without evdev).

        The second it falls in is active; the minute's counts are sent as unavailable (None), never 0.
        """


class InputSource(Protocol):
    """A platform's input hook, feeding an :class:`InputSink` from its own threads."""

    def start(self, sink: InputSink) -> None:
        """Start the listener threads and return once they listen; raises VinovaError if it cannot."""

    def stop(self) -> None:
        """Stop the listener threads; returns within ~2 s; safe to call twice or before start."""

    @property
    def running(self) -> bool:
        """Whether every listener thread is alive (the watchdog asks, on the scheduler thread)."""

    def restart(self, sink: InputSink) -> None:
        """Drop the old listeners, dead or alive, and start new ones (after a wake or a listener's death).

        Called on the scheduler thread; blocks up to ~7 s; raises VinovaError if they cannot start.
        """


class IdleClock(Protocol):
    """The OS idle counter. Called from the scheduler thread; does not block for long."""

    def seconds_since_last_input(self) -> float | None:
        """Seconds since the last user input on this seat, or None when it cannot tell right now."""


class LockState(Protocol):
    """Whether the session's screen is locked (or its screen saver on).

    Called on the scheduler thread every few seconds (the engine's lock poll); may block up to
    about half a second (a D-Bus round trip); never raises.
    """

    def screen_locked(self) -> bool | None:
        """True while locked, False while not, None when it cannot tell right now."""
