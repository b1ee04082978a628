"""Captures held on the device before upload (issue 12, ``upload_delay_seconds``) and deleted there.

A capture may not leave the device before ``taken_at + delay`` (the wall clock: a restart keeps the
remaining wait, and the capture waits in the spool, crash-safe like any other). The upload worker
hands a capture that is not due to :class:`HoldBack`, whose one thread queues it again when its
wait is over. :func:`withhold_capture` deletes a capture that has not left: its row becomes
``withheld`` first, then its file and sidecar go (a crash between leaves a file that
:meth:`agent.spool.CaptureStore.recover` removes); the worker then reports only the fact.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.spool import KEPT_ASIDE, QUEUED, WITHHELD, CaptureRecord, CaptureStore
from agent.spool_files import sidecar_path

logger = logging.getLogger(__name__)

# How often the holding thread looks for captures whose wait is over (real seconds); with none held
# it sleeps until one is.
HOLD_CHECK_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class HeldCapture:
    """A capture waiting on the device before upload, and when its wait ends (tz-aware UTC)."""

    record: CaptureRecord
    upload_at: datetime


def withhold_capture(store: CaptureStore, capture_id: int) -> CaptureRecord | None:
    """Delete a queued or kept-aside capture on the device (row ``withheld``, then the file); else None."""
    if not store.change_status(capture_id, WITHHELD, only_from=(QUEUED, KEPT_ASIDE)):
        return None
    record = store.get(capture_id)
    if record is not None:
        record.path.unlink(missing_ok=True)
        sidecar_path(record.path).unlink(missing_ok=True)
    return record


class HoldBack:
    """The delay in force and the captures waiting it out; ``release`` re-queues a due capture.

    Any thread may call it; :meth:`start` runs one daemon thread ("upload-hold") until :meth:`stop`.
    ``clock`` returns tz-aware UTC (tests pass a fake one).
    """

    def __init__(self, store: CaptureStore, clock: Callable[[], datetime], release: Callable[[int], None],
                 delay_seconds: int = 0) -> None:
        self.store = store
        self._clock = clock
        self._release = release
        self._condition = threading.Condition()
        self._delay_seconds = max(0, delay_seconds)
        self._held: dict[int, datetime] = {}  # capture id -> taken_at
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def delay_seconds(self) -> int:
        """How long captures wait on the device before upload."""
        with self._condition:
            return self._delay_seconds

    def set_delay(self, seconds: int) -> None:
        """Hold captures this long from now on (those already waiting too)."""
        with self._condition:
            if seconds != self._delay_seconds:
                logger.info("captures wait %d s on this computer before upload", seconds)
            self._delay_seconds = max(0, int(seconds))
            self._condition.notify_all()

    def upload_at(self, record: CaptureRecord) -> datetime:
        """When ``record`` may leave the device."""
        return record.taken_at + timedelta(seconds=self.delay_seconds)

    def is_due(self, record: CaptureRecord) -> bool:
        """Whether ``record`` may be uploaded now."""
        return self.upload_at(record) <= self._clock()

    def hold(self, record: CaptureRecord) -> None:
        """Keep ``record`` until its wait is over, then release it."""
        with self._condition:
            self._held[record.capture_id] = record.taken_at
            self._condition.notify_all()

    def forget(self, capture_id: int) -> None:
        """Stop holding a capture (it was deleted)."""
        with self._condition:
            self._held.pop(capture_id, None)

    def held_back(self) -> list[HeldCapture]:
        """The captures waiting out the delay, oldest first (read from the spool)."""
        if self.delay_seconds <= 0:
            return []
        now = self._clock()
        return [HeldCapture(record, self.upload_at(record)) for record in self.store.pending()
                if self.upload_at(record) > now]

    def start(self) -> None:
        """Start the holding thread."""
        with self._condition:
            self._stopping = False
        self._thread = threading.Thread(target=self._run, name="upload-hold", daemon=True)
        self._thread.start()

    def stop(self, timeout_seconds: float) -> None:
        """Stop the thread and forget what it held (the spool still has it: start() finds it again)."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(max(0.0, timeout_seconds))
            self._thread = None
        with self._condition:
            self._held.clear()

    def _run(self) -> None:
        while True:
            with self._condition:
                if not self._stopping:
                    self._condition.wait(HOLD_CHECK_SECONDS if self._held else None)
                if self._stopping:
                    return
                delay = timedelta(seconds=self._delay_seconds)
                now = self._clock()
                due = [capture_id for capture_id, taken_at in self._held.items() if taken_at + delay <= now]
                for capture_id in due:
                    del self._held[capture_id]
            for capture_id in due:
                self._release(capture_id)
