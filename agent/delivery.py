"""Delivery of collected minutes: saved to the outbox first, then sent oldest first with backoff.

Runs on the scheduler thread only (:meth:`agent.engine.Agent.flush_activity`).

Two promises (issue 10 items 6 and 7):

* One bad minute never blocks the rest. The server answers the minutes it refused by index; those
  are set aside in agent.db with the reason (shown, never resent) and the rest leave the outbox.
  A whole batch refused without an index (an older server, or a refusal that names no sample) is
  split in halves until the minutes to blame are found; when no minute of the batch gets through
  at all, the body itself is at fault and everything is kept, retried at the slowest pace.
* A collected minute is never dropped. When agent.db cannot be written (disk full), minutes stay
  in memory and are written at the next flush; "disk full" is said once, not once per minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from agent.activity_answer import ActivityAnswer, BatchRefused, Refusal
from agent.backoff import Backoff
from agent.localdb import DiskFull, LocalWriteFailed
from agent.outbox import Outbox, SetAside
from contract.activity import MinuteSample
from contract.errors import PermanentError, TransientError

log = logging.getLogger(__name__)

ACTIVITY_BATCH_SIZE = 500


class ActivitySender(Protocol):
    """Sends samples to ``POST /activity`` (agent.client.ServerClient); may block up to its timeout.

    Answers which samples were accepted (a bare count means all of them); raises TransientError,
    SessionExpired, :class:`~agent.activity_answer.BatchRefused` or PermanentError.
    """

    def post_activity(
        self, samples: list[dict[str, Any]], agent: dict[str, int] | None = None
    ) -> ActivityAnswer | int: ...


class _BodyRefused(Exception):
    """The server blamed the body itself (device, agent report…), not a minute: keep every minute."""

    def __init__(self, error: PermanentError) -> None:
        super().__init__(str(error))
        self.error = error


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
        self._unsaved: list[MinuteSample] = []  # collected but not yet written (disk full)
        self._write_failure_said = False

    # ------------------------------------------------------------------ saving
    def save(self, samples: Iterable[MinuteSample]) -> None:
        """Commit collected minutes to the outbox (before anything is sent); kept in memory if it fails."""
        pending = [*self._unsaved, *samples]
        if not pending:
            return
        try:
            self.outbox.add(self.username, pending)
        except DiskFull:
            self._keep_in_memory(pending, "disk full")
            return
        except LocalWriteFailed as exc:  # any other write failure: the minutes are kept all the same
            self._keep_in_memory(pending, str(exc))
            return
        if self._unsaved:
            log.warning("disk has space again: %d minutes kept in memory are saved", len(self._unsaved))
        self._unsaved = []
        self._write_failure_said = False

    def _keep_in_memory(self, pending: list[MinuteSample], why: str) -> None:
        self._unsaved = pending
        if self._write_failure_said:
            log.debug("%s: %d minutes kept in memory", why, len(pending))
            return
        self._write_failure_said = True
        log.warning("%s: %d minutes kept in memory until there is space", why, len(pending))

    @property
    def unsaved(self) -> int:
        """Minutes held in memory because agent.db could not be written."""
        return len(self._unsaved)

    def waiting(self) -> int:
        """How many minutes wait to be delivered (in the outbox and in memory)."""
        return self.outbox.count(self.username) + len(self._unsaved)

    def set_aside_count(self) -> int:
        """How many minutes the server refused (kept aside, never resent)."""
        return self.outbox.set_aside_count(self.username)

    def set_aside_reasons(self) -> dict[str, int]:
        """``{reason: count}`` of the minutes set aside, for the window."""
        return self.outbox.set_aside_reasons(self.username)

    # ------------------------------------------------------------------ sending
    def _report(self, backlog: dict[str, int] | None) -> dict[str, int] | None:
        """The ``agent`` object: the upload backlog plus the minutes set aside (when there are any)."""
        set_aside = self.set_aside_count()
        if not set_aside:
            return backlog
        return {**(backlog or {}), "minutes_set_aside": set_aside}

    def send(self, backlog: dict[str, int] | None) -> None:
        """Send what waits, a batch at a time, unless inside a backoff window."""
        if not self._backoff.ready(self._monotonic()):
            return
        while not self._stop_event.is_set():
            batch = self.outbox.pending(self.username, ACTIVITY_BATCH_SIZE)
            if not batch:
                break
            try:
                delivered = self._deliver(batch, self._report(backlog))
            except TransientError as exc:
                delay = self._backoff.failed(self._monotonic(), exc.retry_after_seconds)
                if not self.offline:
                    log.warning("offline: %s; %d minutes wait, retrying in %.0f s", exc, len(batch), delay)
                self.offline = True
                return
            except (PermanentError, _BodyRefused) as exc:
                # Kept, never dropped: retried at the slowest pace and reported each time.
                delay = self._backoff.refused(self._monotonic())
                log.error("the server refused %d activity minutes (kept, retry in %.0f s): %s",
                          len(batch), delay, exc)
                return
            self._backoff.succeeded()
            if self.offline:
                log.info("back online: activity delivered")
            self.offline = False
            log.debug("sent %d activity minutes", delivered)
            if len(batch) < ACTIVITY_BATCH_SIZE:
                break

    def _deliver(self, batch: list[dict[str, Any]], report: dict[str, int] | None) -> int:
        """Send ``batch``; how many minutes the server took. Refused minutes are set aside.

        Raises PermanentError when not one minute of ``batch`` got through for a reason no single
        minute explains, _BodyRefused when the body is at fault, TransientError to retry later.
        """
        try:
            answer = self._sender.post_activity(batch, report)
        except BatchRefused as exc:
            refusals = exc.sample_refusals(len(batch))
            if refusals is not None:  # the server named the minutes (an older server's whole-batch 400)
                self._set_aside(batch, refusals)
                blamed = {refusal.index for refusal in refusals}
                rest = [sample for index, sample in enumerate(batch) if index not in blamed]
                return self._deliver(rest, report) if rest else 0
            if exc.fields:
                raise _BodyRefused(exc) from exc
            return self._split(batch, report, exc)
        except PermanentError as exc:
            return self._split(batch, report, exc)
        if not isinstance(answer, ActivityAnswer):
            answer = ActivityAnswer(int(answer))
        self._set_aside(batch, answer.refused)
        blamed = {refusal.index for refusal in answer.refused}
        accepted = [sample["minute_start"] for index, sample in enumerate(batch) if index not in blamed]
        self.outbox.remove(self.username, accepted)
        return len(batch) - len(blamed)

    def _split(
        self, batch: list[dict[str, Any]], report: dict[str, int] | None, error: PermanentError
    ) -> int:
        """Find the minutes to blame for a refusal that names none: send each half on its own."""
        if len(batch) == 1:
            raise error
        middle = len(batch) // 2
        delivered = 0
        unexplained: list[tuple[list[dict[str, Any]], str]] = []
        for half in (batch[:middle], batch[middle:]):
            try:
                delivered += self._deliver(half, report)
            except PermanentError as refused:
                unexplained.append((half, str(refused)))
        if not unexplained:
            return delivered
        if delivered == 0:
            raise error
        # The server took other minutes of the very same body, so what it refused is those minutes.
        for half, why in unexplained:
            self._set_aside(half, [Refusal(index, "sample", why) for index in range(len(half))])
        return delivered

    def _set_aside(self, batch: Sequence[dict[str, Any]], refusals: Iterable[Refusal]) -> None:
        items = [SetAside(batch[refusal.index], refusal.field, refusal.reason) for refusal in refusals]
        if not items:
            return
        self.outbox.set_aside(self.username, items)
        reasons = sorted({item.reason for item in items})
        one = len(items) == 1
        log.warning(
            "%d activity minute%s set aside, the server refused %s: %s",
            len(items), "" if one else "s", "it" if one else "them", "; ".join(reasons),
        )

    def retry_now(self) -> None:
        """Forget the backoff (after a new sign-in): the next send goes out at once."""
        self._backoff.succeeded()
