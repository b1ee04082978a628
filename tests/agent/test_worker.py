"""The upload worker with fake uploaders behind the Uploader seam and a fake clock for its backoff."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from spool_support import FakeClock, ScriptedUploader, add_capture
from support import wait_until

from agent.events import EventHub, Uploaded
from agent.spool import CaptureRecord, CaptureStore
from agent.worker import UploadWorker
from contract.errors import PermanentError, SessionExpired, TransientError


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CaptureStore]:
    capture_store = CaptureStore(tmp_path / "agent")
    yield capture_store
    capture_store.close()


def make_worker(
    store: CaptureStore,
    uploader: Any,
    register: Callable[[CaptureRecord], None] | None = None,
    **options: Any,
) -> UploadWorker:
    settings: dict[str, Any] = {"concurrency": 2, "backoff_initial_seconds": 0.05, "backoff_max_seconds": 0.2}
    settings.update(options)
    return UploadWorker(
        store=store, uploader=uploader, register=register or (lambda record: None), **settings
    )


def retry_wait_seconds(worker: UploadWorker, clock: FakeClock) -> float | None:
    """How long the worker says it waits before the next attempt, on the fake clock."""
    next_retry_at = worker.status().next_retry_at
    return None if next_retry_at is None else (next_retry_at - clock.wall()).total_seconds()


def observed_waits(
    worker: UploadWorker, uploader: ScriptedUploader, clock: FakeClock, failures: int
) -> list[float]:
    """Each wait the worker announces after a failure; the fake clock is then moved past it."""
    waits: list[float] = []
    for attempt in range(1, failures + 1):

        def announced(attempt: int = attempt) -> float | None:
            return retry_wait_seconds(worker, clock) if len(uploader.calls) == attempt else None

        wait = wait_until(announced, message=f"the wait after failure {attempt}")
        assert wait is not None
        waits.append(wait)
        clock.advance(wait + 0.001)
    return waits
def test_worker_uploads_registers_then_deletes_each_capture(store: CaptureStore) -> None:
    records = [add_capture(store, n) for n in range(1, 6)]
    uploader = ScriptedUploader()
    registered: list[str] = []
    order: list[str] = []

    def register(record: CaptureRecord) -> None:
        assert record.path.exists(), "the file must outlive the registration"
        order.append("register")
        registered.append(record.key)

    worker = make_worker(store, uploader, register)
    worker.start()
    try:
        wait_until(lambda: store.counts()["uploaded"] == 5, message="5 uploads")
    finally:
        worker.stop()
    assert sorted(uploader.stored) == sorted(record.key for record in records)
    assert uploader.stored[records[0].key] == (1).to_bytes(4, "big") * 250
    assert sorted(registered) == sorted(uploader.stored)
    assert list(store.spool_dir.iterdir()) == []
    status = worker.status()
    assert (status.waiting, status.uploaded_total, status.kept_aside, status.offline) == (0, 5, 0, False)
    assert status.last_upload_at is not None


def test_worker_retries_transient_failures_with_growing_backoff(store: CaptureStore) -> None:
    record = add_capture(store, 1)
    uploader = ScriptedUploader([TransientError("503"), TransientError("timeout"), TransientError("reset")])
    clock = FakeClock()
    worker = make_worker(
        store, uploader, concurrency=1, backoff_initial_seconds=0.04, backoff_max_seconds=1.0,
        monotonic=clock.monotonic, clock=clock.wall,
    )
    worker.start()
    try:
        waits = observed_waits(worker, uploader, clock, 3)
        wait_until(lambda: store.counts()["uploaded"] == 1, message="the upload after 3 failures")
    finally:
        worker.stop()
    assert uploader.calls == [record.key] * 4
    # Equal jitter: each wait lies in [step/2, step] with steps 0.04, 0.08, 0.16 (microsecond dates).
    for wait, step in zip(waits, (0.04, 0.08, 0.16), strict=True):
        assert step / 2 - 1e-6 <= wait <= step + 1e-6
    stored = store.get(record.capture_id)
    assert stored is not None and stored.attempts == 4
    assert not worker.status().offline


def test_backoff_is_capped_at_the_maximum(store: CaptureStore) -> None:
    add_capture(store, 1)
    uploader = ScriptedUploader([TransientError("down")] * 6)
    clock = FakeClock()
    worker = make_worker(
        store, uploader, concurrency=1, backoff_initial_seconds=0.01, backoff_max_seconds=0.03,
        monotonic=clock.monotonic, clock=clock.wall,
    )
    worker.start()
    try:
        waits = observed_waits(worker, uploader, clock, 6)
        wait_until(lambda: store.counts()["uploaded"] == 1, message="the upload after 6 failures")
    finally:
        worker.stop()
    assert max(waits) <= 0.03 + 1e-6


def test_retry_after_is_honoured(store: CaptureStore) -> None:
    add_capture(store, 1)
    uploader = ScriptedUploader([TransientError("429", retry_after_seconds=0.3)])
    clock = FakeClock()
    worker = make_worker(
        store, uploader, concurrency=1, backoff_initial_seconds=0.01, backoff_max_seconds=5,
        monotonic=clock.monotonic, clock=clock.wall,
    )
    worker.start()
    try:
        waits = observed_waits(worker, uploader, clock, 1)
        wait_until(lambda: store.counts()["uploaded"] == 1, message="the upload after a 429")
    finally:
        worker.stop()
    assert waits == [pytest.approx(0.3, abs=1e-6)]


def test_one_failing_item_pauses_all_threads_while_offline(store: CaptureStore) -> None:
    for number in range(1, 11):
        add_capture(store, number)
    uploader = ScriptedUploader([TransientError("connection refused")] * 100)
    clock = FakeClock()  # never moved: the pause after the first failure never ends
    worker = make_worker(store, uploader, concurrency=4, backoff_initial_seconds=1.0, backoff_max_seconds=1.0,
                         monotonic=clock.monotonic, clock=clock.wall)
    worker.start()
    try:
        wait_until(lambda: worker.status().offline, message="the worker to notice the outage")
        status = worker.status()
        assert status.next_retry_at is not None and status.next_retry_at > clock.wall()
        assert status.last_error == "connection refused"
    finally:
        worker.stop()
    # During the pause only the attempts already in flight happened (one per thread):
    # nobody hammered the store with the other captures.
    assert len(uploader.calls) <= 4
    assert store.counts()["queued"] == 10


def test_permanent_failure_keeps_the_capture_aside_with_its_reason(store: CaptureStore) -> None:
    refused, fine = add_capture(store, 1), add_capture(store, 2)
    uploader = ScriptedUploader([PermanentError("store refused the upload: 403")])
    worker = make_worker(store, uploader, concurrency=1)
    worker.start()
    try:
        wait_until(lambda: store.counts()["uploaded"] == 1, message="the second capture")
    finally:
        worker.stop()
    status = worker.status()
    assert status.kept_aside == 1
    assert status.kept_aside_reasons == {"store refused the upload: 403": 1}
    assert refused.path.exists()
    assert not fine.path.exists()


def test_session_expiry_stops_sending_until_resume(store: CaptureStore) -> None:
    for number in range(1, 4):
        add_capture(store, number)
    uploader = ScriptedUploader([SessionExpired()])
    worker = make_worker(store, uploader, concurrency=1)
    worker.start()
    try:
        wait_until(lambda: worker.session_expired, message="the 401 to be noticed")
        # The one thread noticed the 401 itself, so it cannot have tried another capture.
        assert len(uploader.calls) == 1
        assert worker.status().session_expired
        assert store.counts()["queued"] == 3
        worker.resume()
        wait_until(lambda: store.counts()["uploaded"] == 3, message="uploads after the new sign-in")
    finally:
        worker.stop()
    assert not worker.session_expired


def test_a_transient_registration_failure_retries_the_idempotent_put(store: CaptureStore) -> None:
    record = add_capture(store, 1)
    uploader = ScriptedUploader()
    failures = [TransientError("server 502")]

    def register(capture: CaptureRecord) -> None:
        if failures:
            raise failures.pop()

    worker = make_worker(store, uploader, register, concurrency=1)
    worker.start()
    try:
        wait_until(lambda: store.counts()["uploaded"] == 1, message="upload after the registration retry")
    finally:
        worker.stop()
    assert uploader.calls == [record.key, record.key]
    assert list(uploader.stored) == [record.key]


def test_stop_abandons_an_in_flight_put_and_the_capture_stays_queued(store: CaptureStore) -> None:
    record = add_capture(store, 1)
    release = threading.Event()
    entered = threading.Event()

    class HangingUploader:
        mode = "hanging"

        def put(self, capture: CaptureRecord, data: bytes) -> None:
            entered.set()
            release.wait(10)
            raise TransientError("abandoned")

    worker = make_worker(store, HangingUploader(), concurrency=1)
    worker.start()
    assert entered.wait(5)
    worker.stop(timeout=0.2)
    assert store.counts()["queued"] == 1
    release.set()

    second = make_worker(store, ScriptedUploader(), concurrency=1)
    second.start()
    try:
        wait_until(lambda: store.counts()["uploaded"] == 1, message="the capture after restart")
    finally:
        second.stop()
    assert not record.path.exists()


def test_start_requeues_everything_left_in_the_spool(store: CaptureStore) -> None:
    for number in range(1, 8):
        add_capture(store, number)
    uploader = ScriptedUploader()
    worker = make_worker(store, uploader)  # nobody calls enqueue: start() must find them
    worker.start()
    try:
        wait_until(lambda: store.counts()["uploaded"] == 7, message="spool drained")
    finally:
        worker.stop()
    assert len(uploader.stored) == 7


def test_a_corrupt_spool_file_is_kept_aside_not_uploaded(store: CaptureStore) -> None:
    record = add_capture(store, 1)
    record.path.write_bytes(b"bit rot")
    uploader = ScriptedUploader()
    worker = make_worker(store, uploader)
    worker.start()
    try:
        wait_until(lambda: store.counts()["kept_aside"] == 1, message="the corrupt file kept aside")
    finally:
        worker.stop()
    assert uploader.calls == []
    assert store.kept_aside_reasons() == {"spool file corrupt": 1}




def test_each_delivered_capture_is_announced_once_its_file_is_gone(store: CaptureStore) -> None:
    records = [add_capture(store, n) for n in range(1, 4)]
    events = EventHub()
    announced: list[Uploaded] = []
    files_left: list[bool] = []

    def on_uploaded(event: Uploaded) -> None:
        files_left.append(event.record.path.exists())
        announced.append(event)

    events.subscribe(Uploaded, on_uploaded)
    worker = make_worker(store, ScriptedUploader(), events=events)
    worker.start()
    try:
        wait_until(lambda: len(announced) == 3, message="three Uploaded events")
    finally:
        worker.stop()
    assert sorted(event.record.key for event in announced) == sorted(record.key for record in records)
    assert files_left == [False, False, False]
