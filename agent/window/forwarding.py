"""Hands an engine's events to the window's Tk thread, holding the window only weakly.

The event handlers run on engine threads (scheduler, upload workers). Had an engine thread dropped
the last reference to the window, Tk would be torn down on the wrong thread and abort the process
(seen in the window tests), so each handler keeps a weak reference and only puts a callable on the
window's queue; the Tk thread runs it if the window still exists.
"""

from __future__ import annotations

import queue
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from agent.engine import Agent

W = TypeVar("W")
Route = tuple[type[Any], Callable[[W, Agent, Any], None]]


def forward_events(window: W, agent: Agent, inbox: queue.Queue[Callable[[], None]],
                   routes: tuple[Route[W], ...]) -> Callable[[], None]:
    """Subscribe ``window``'s methods to ``agent``'s events; returns what unsubscribes them (any thread)."""
    window_ref = weakref.ref(window)

    def forward(method: Callable[[W, Agent, Any], None]) -> Callable[[Any], None]:
        def handler(event: Any) -> None:
            inbox.put(lambda: _deliver(window_ref, method, agent, event))

        return handler

    unsubscribers = tuple(agent.events.subscribe(kind, forward(method)) for kind, method in routes)

    def unsubscribe() -> None:
        for each in unsubscribers:
            each()

    return unsubscribe


def _deliver(window_ref: weakref.ReferenceType[W], method: Callable[[W, Agent, Any], None],
             agent: Agent, event: Any) -> None:
    """Run an engine event's window update on the Tk thread, if the window still exists."""
    window = window_ref()
    if window is not None:
        method(window, agent, event)
