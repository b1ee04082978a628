"""The upload worker: a queue.Queue feeding a few threads that PUT, register, then delete each capture.

Captures may be held on the device first (``upload_delay_seconds``, :mod:`agent.holding`) and deleted
there (:meth:`UploadWorker.withhold`): only the fact is reported to the server, queued like an upload.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.backoff import BACKOFF_INITIAL_SECONDS, BACKOFF_MAX_SECONDS, Backoff
from agent.events import ConfigApplied, EventHub, Uploaded
from agent.holding import HeldCapture, HoldBack, withhold_capture
from agent.spool import KEPT_ASIDE, QUEUED, UPLOADED, WITHHELD, WITHHELD_REPORTED, CaptureRecord, CaptureStore
from agent.uploaders import Uploader
from contract.errors import PermanentError, SessionExpired, TransientError
from time_manager import utc_now

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UploadStatus:
    """What the GUI shows about uploads."""

    waiting: int
    kept_aside: int
    kept_aside_reasons: dict[str, int]
    uploaded_total: int
    last_upload_at: datetime | None
    offline: bool
    next_retry_at: datetime | None
    session_expired: bool = False
    last_error: str | None = None
    held_back: int = 0  # captures waiting out the upload delay (part of ``waiting``)


class UploadWorker:
    """A ``queue.Queue`` of capture ids drained by ``concurrency`` threads, with global backoff.

    Per item: read file → ``uploader.put`` → ``register`` (POST /screenshots, idempotent) → mark
    uploaded → delete the local file → publish :class:`~agent.events.Uploaded` on ``events``.
    TransientError: every thread backs off (one :class:`~agent.backoff.Backoff`, 1 s doubling to
    5 min, equal jitter) and tries again; SessionExpired: stop sending until :meth:`resume`;
    PermanentError: keep aside. ``monotonic`` times the backoff, ``clock`` (tz-aware UTC) dates it.
    """

    def __init__(
        self,
        *,
        store: CaptureStore,
        uploader: Uploader,
        register: Callable[[CaptureRecord], object],
        concurrency: int = 4,
        backoff_initial_seconds: float = BACKOFF_INITIAL_SECONDS,
        backoff_max_seconds: float = BACKOFF_MAX_SECONDS,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = utc_now,
        events: EventHub | None = None,
        report_withheld: Callable[[CaptureRecord], None] | None = None,
        upload_delay_seconds: int = 0,
    ) -> None:
        self.store = store
        self.uploader = uploader
        self.register = register
        self.concurrency = max(1, concurrency)
        self._monotonic = monotonic
        self._clock = clock
        self.events = events if events is not None else EventHub()
        # ``report_withheld`` tells the server a capture was deleted on the device (POST /api/me/withheld).
        self.report_withheld = report_withheld
        self.holding = HoldBack(store, clock, self.enqueue, upload_delay_seconds)
        self._in_flight: set[int] = set()
        self.events.subscribe(ConfigApplied, self._config_applied)
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._queued_ids: set[int] = set()
        self._condition = threading.Condition()
        self._stopping = False
        self._session_expired = False
        self._backoff = Backoff(backoff_initial_seconds, backoff_max_seconds, rng or random.Random())
        self._last_error: str | None = None
        self._threads: list[threading.Thread] = []

    # ----------------------------------------------------------------- control
    def start(self) -> None:
        """Queue what the spool holds (crash recovery, kept-aside captures too), then start the threads."""
        if self._threads:
            return
        with self._condition:
            self._stopping = False
        retried = self.store.retry_kept_aside()
        if retried:
            logger.info("trying %d kept-aside capture(s) again", len(retried))
        recovered = self.store.recover()
        for record in recovered:
            self.enqueue(record.capture_id)
        for record in self.store.with_status(WITHHELD):  # deletions not yet told to the server
            self.enqueue(record.capture_id)
        uploader_mode = getattr(self.uploader, "mode", type(self.uploader).__name__)
        logger.info(
            "upload worker started (%s, %d threads); %d capture(s) waiting in the spool",
            uploader_mode,
            self.concurrency,
            len(recovered),
        )
        for number in range(self.concurrency):
            thread = threading.Thread(target=self._run, name=f"upload-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.holding.start()

    def enqueue(self, capture_id: int) -> None:
        """Queue one spooled capture (duplicates are ignored). Any thread."""
        with self._condition:
            if capture_id in self._queued_ids:
                return
            self._queued_ids.add(capture_id)
        self._queue.put(capture_id)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the threads; an in-flight PUT is abandoned and its item stays queued. Idempotent."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        for _ in self._threads:
            self._queue.put(None)
        deadline = self._monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - self._monotonic()))
        self._threads = []
        self.holding.stop(deadline - self._monotonic())
        # Forget what the old threads had queued; start() re-queues it from the spool.
        with self._condition:
            self._queued_ids.clear()
        self._queue = queue.Queue()

    def retry_kept_aside(self) -> int:
        """Queue every kept-aside capture whose file still exists again (the window's Retry). Any thread."""
        ids = self.store.retry_kept_aside()
        with self._condition:
            self._backoff.succeeded()
            self._condition.notify_all()
        for capture_id in ids:
            self.enqueue(capture_id)
        logger.info("retrying %d kept-aside capture(s)", len(ids))
        return len(ids)

    @property
    def session_expired(self) -> bool:
        """True after a 401: nothing is sent until :meth:`resume` (after a new sign-in)."""
        with self._condition:
            return self._session_expired

    def resume(self) -> None:
        """Send again after a new sign-in; also clears the backoff so uploads start at once."""
        with self._condition:
            self._session_expired = False
            self._backoff.succeeded()
            self._condition.notify_all()

    def status(self) -> UploadStatus:
        """Counts and retry state for the GUI."""
        counts = self.store.counts()
        with self._condition:
            remaining = self._backoff.remaining(self._monotonic())
            offline = self._backoff.failures > 0
            last_error = self._last_error
            session_expired = self._session_expired
        next_retry_at = self._clock() + timedelta(seconds=remaining) if remaining > 0 else None
        held_back = len(self.holding.held_back())
        return UploadStatus(
            waiting=counts[QUEUED],
            kept_aside=counts[KEPT_ASIDE],
            kept_aside_reasons=self.store.kept_aside_reasons(),
            uploaded_total=counts[UPLOADED],
            last_upload_at=self.store.last_uploaded_at(),
            offline=offline,
            next_retry_at=next_retry_at,
            session_expired=session_expired,
            last_error=last_error,
            held_back=held_back,
        )

    # ----------------------------------------------------------------- holding back (issue 12)
    def _config_applied(self, applied: ConfigApplied) -> None:
        self.holding.set_delay(applied.config.upload_delay_seconds)

    def held_back(self) -> list[HeldCapture]:
        """The captures waiting out the upload delay, oldest first (for the window's list). Any thread."""
        return self.holding.held_back()

    def withhold(self, capture_id: int) -> CaptureRecord | None:
        """Delete a capture on the device before it is uploaded; the server hears only of the fact.

        None when it is too late (being uploaded right now, or already uploaded). Any thread.
        """
        with self._condition:
            if capture_id in self._in_flight:
                return None
            record = withhold_capture(self.store, capture_id)
        self.holding.forget(capture_id)
        if record is None:
            return None
        logger.info("a capture was deleted on this device before upload; only the deletion is reported")
        self.enqueue(capture_id)
        return record

    # ----------------------------------------------------------------- the threads
    def _wait_until_allowed(self) -> bool:
        """Block while backing off or signed out; False when stopping."""
        with self._condition:
            while True:
                if self._stopping:
                    return False
                if self._session_expired:
                    self._condition.wait()
                    continue
                remaining = self._backoff.remaining(self._monotonic())
                if remaining <= 0:
                    return True
                self._condition.wait(remaining)

    def _run(self) -> None:
        work = self._queue
        while True:
            capture_id = work.get()
            if capture_id is None:
                return
            if not self._wait_until_allowed():
                return
            requeue = False
            with self._condition:
                self._in_flight.add(capture_id)
            try:
                requeue = self._upload_one(capture_id)
            except Exception:  # the job boundary: a bug must not kill the thread or lose the capture
                logger.exception("unexpected error uploading capture %s; will retry", capture_id)
                self._note_failure("unexpected error", None, self._monotonic())
                requeue = True
            with self._condition:
                self._in_flight.discard(capture_id)
                stopping = self._stopping
                if not requeue or stopping:
                    self._queued_ids.discard(capture_id)
            if requeue and not stopping:
                work.put(capture_id)

    def _upload_one(self, capture_id: int) -> bool:
        """Deliver one capture; True when it must be tried again later."""
        record = self.store.get(capture_id)
        if record is not None and record.status == WITHHELD:
            return self._report_withheld(record)
        if record is None or record.status != QUEUED:
            return False
        if not self.holding.is_due(record):
            self.holding.hold(record)  # queued again when its wait is over
            return False
        try:
            data = record.path.read_bytes()
        except FileNotFoundError:
            logger.warning("capture %s lost its spool file; kept aside", record.key)
            self.store.keep_aside(capture_id, "spool file missing")
            return False
        if hashlib.sha256(data).hexdigest() != record.sha256:
            logger.warning("capture %s is corrupt on disk; kept aside", record.key)
            self.store.keep_aside(capture_id, "spool file corrupt")
            return False
        self.store.record_attempt(capture_id)
        started = self._monotonic()
        try:
            self.uploader.put(record, data)
            answer = self.register(record)
        except SessionExpired:
            logger.warning("the server ended the session; uploads wait for a new sign-in")
            with self._condition:
                self._session_expired = True
            return True
        except TransientError as exc:
            self._note_failure(str(exc), exc.retry_after_seconds, started)
            return True
        except PermanentError as exc:
            logger.warning("capture %s kept aside: %s", record.key, exc)
            self.store.keep_aside(capture_id, str(exc))
            return False
        server_id = answer if isinstance(answer, int) and not isinstance(answer, bool) else None
        self.store.mark_uploaded(capture_id, self._clock(), server_id)
        self._note_success()
        logger.debug("uploaded %s", record.key)
        self.events.publish(Uploaded(self.store.get(capture_id) or record))
        return False

    def _report_withheld(self, record: CaptureRecord) -> bool:
        """Tell the server a capture was deleted on the device; True when it must be tried again."""
        if self.report_withheld is None:
            self.store.change_status(record.capture_id, WITHHELD_REPORTED, "no server to tell")
            return False
        started = self._monotonic()
        try:
            self.report_withheld(record)
        except SessionExpired:
            with self._condition:
                self._session_expired = True
            return True
        except TransientError as exc:
            self._note_failure(str(exc), exc.retry_after_seconds, started)
            return True
        except PermanentError as exc:
            logger.warning("the server refused to record a deletion on this device: %s", exc)
            self.store.change_status(record.capture_id, WITHHELD_REPORTED, str(exc))
            return False
        self.store.change_status(record.capture_id, WITHHELD_REPORTED)
        self._note_success()
        return False

    def _note_failure(self, message: str, retry_after_seconds: float | None, started: float) -> None:
        with self._condition:
            delay = self._backoff.failed(self._monotonic(), retry_after_seconds, started_at=started)
            first = self._last_error is None
            self._last_error = message
        log = logger.warning if first else logger.info
        log("upload failed (%s); retrying in %.1f s", message, delay)

    def _note_success(self) -> None:
        with self._condition:
            if self._backoff.failures:
                logger.info("uploads are flowing again")
            self._backoff.succeeded()
            self._last_error = None
