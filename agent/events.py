"""The engine's events and the hub that carries them to subscribers (the window, the log, tests).

Publishers (the screenshot manager on the scheduler thread, the upload worker on its threads, the
engine when a config is applied) call :meth:`EventHub.publish`; each handler runs at once on the
publisher's thread, so it must be quick and must not touch Tk widgets: the window's handlers only
put the event on its own queue, which the Tk thread drains. A handler that raises is logged and the
other handlers still run; publishing never fails because of a subscriber.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from agent.spool import CaptureRecord
from contract.config_schema import AgentConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Captured:
    """A capture is in the spool; ``jpeg`` holds its bytes (the spooled file goes once uploaded)."""

    record: CaptureRecord
    jpeg: bytes


@dataclass(frozen=True, slots=True)
class Uploaded:
    """A capture is stored and registered with the server; its spooled file is gone."""

    record: CaptureRecord


@dataclass(frozen=True, slots=True)
class ConfigApplied:
    """A config from the server (or the on-disk cache) is in force; ``changes`` maps key → (old, new)."""

    config: AgentConfig
    changes: Mapping[str, tuple[Any, Any]]


@dataclass(frozen=True, slots=True)
class Returned:
    """The person is back after at least ``idle_threshold`` without input (issue 12: the idle prompt).

    ``began_at`` is the last input before the absence, ``ended_at`` the first after it (tz-aware UTC).
    Published by the engine on the scheduler thread; only the window asks about it.
    """

    began_at: datetime
    ended_at: datetime


Event = Captured | Uploaded | ConfigApplied | Returned
E = TypeVar("E", Captured, Uploaded, ConfigApplied, Returned)


class EventHub:
    """Typed publish/subscribe: ``hub.subscribe(Captured, handler)``; safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: dict[type[Any], list[Callable[[Any], None]]] = {}

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Call ``handler(event)`` for every event of ``kind``; returns a function that unsubscribes."""
        with self._lock:
            self._handlers.setdefault(kind, []).append(handler)

        def unsubscribe() -> None:
            with self._lock:
                handlers = self._handlers.get(kind, [])
                if handler in handlers:
                    handlers.remove(handler)

        return unsubscribe

    def publish(self, event: Event) -> None:
        """Hand ``event`` to every handler of its type, on this thread, in subscription order."""
        with self._lock:
            handlers = list(self._handlers.get(type(event), ()))
        for handler in handlers:
            try:
                handler(event)
            except Exception:  # a subscriber's bug must not stop a capture or an upload
                logger.exception("a %s handler failed", type(event).__name__)
