"""The activity tracker's operating-system seams: input events in, the OS idle counter, the input hook.

One real adapter per platform lives in :mod:`agent.adapters.inputs`; tests pass fakes.
"""

from __future__ import annotations

from typing import Protocol


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


class InputSource(Protocol):
    """A platform's input hook, feeding an :class:`InputSink` from its own threads."""

    def start(self, sink: InputSink) -> None:
        """Start the listener threads and return once they listen; raises VinovaError if it cannot."""

    def stop(self) -> None:
        """Stop the listener threads; returns within ~2 s; safe to call twice or before start."""


class IdleClock(Protocol):
    """The OS idle counter. Called from the scheduler thread; does not block for long."""

    def seconds_since_last_input(self) -> float | None:
        """Seconds since the last user input on this seat, or None when it cannot tell right now."""
