"""Delivery of collected minutes: saved to the outbox first, then sent oldest first with backoff.

Runs on the scheduler thread only (:meth:`agent.engine.Agent.flush_activity`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from agent.backoff import Backoff
from agent.outbox import Outbox
from contract.activity import MinuteSample
from contract.errors import PermanentError, TransientError

log = logging.getLogger(__name__)

ACTIVITY_BATCH_SIZE = 500


class ActivitySender(Protocol):
    """Sends samples to ``POST /activity`` (agent.client.ServerClient); may block up to its timeout."""

    def post_activity(self, samples: list[dict[str, Any]], agent: dict[str, int] | None = None) -> int: ...


class ActivityDelivery:
    """One user's minutes from the tracker to the server, through the outbox."""

    def __init__(
        self,
        *,
        username: str,
        sender: ActivitySender,
        outbox: Outbox,
        stop_event: threading.Event,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.username = username
        self.outbox = outbox
        self._sender = sender
        self._stop_event = stop_event
        self._monotonic = monotonic
        self._backoff = Backoff()
        self.offline = False

    def save(self, samples: Iterable[MinuteSample]) -> None:
        """Commit collected minutes to the outbox (before anything is sent)."""
        self.outbox.add(self.username, samples)

    def waiting(self) -> int:
        """How many minutes wait to be delivered."""
        return self.outbox.count(self.username)

    def send(self, backlog: dict[str, int] | None) -> None:
        """Send what waits, a batch at a time, unless inside a backoff window."""
        if not self._backoff.ready(self._monotonic()):
            return
        while not self._stop_event.is_set():
            batch = self.outbox.pending(self.username, ACTIVITY_BATCH_SIZE)
            if not batch:
                break
            try:
                self._sender.post_activity(batch, backlog)
            except TransientError as exc:
                delay = self._backoff.failed(self._monotonic(), exc.retry_after_seconds)
                if not self.offline:
                    log.warning("offline: %s; %d minutes wait, retrying in %.0f s", exc, len(batch), delay)
                self.offline = True
                return
            except PermanentError as exc:
                # Kept, never dropped: retried at the slowest pace and reported each time.
                delay = self._backoff.refused(self._monotonic())
                log.error("the server refused %d activity minutes (kept, retry in %.0f s): %s",
                          len(batch), delay, exc)
                return
            self.outbox.remove(self.username, [sample["minute_start"] for sample in batch])
            self._backoff.succeeded()
            if self.offline:
                log.info("back online: activity delivered")
            self.offline = False
            log.debug("sent %d activity minutes", len(batch))
            if len(batch) < ACTIVITY_BATCH_SIZE:
                break

    def retry_now(self) -> None:
        """Forget the backoff (after a new sign-in): the next send goes out at once."""
        self._backoff.succeeded()
