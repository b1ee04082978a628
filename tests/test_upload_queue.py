"""The capture spool and the upload worker, with fake uploaders behind the Uploader seam."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.stub import Stubber
from support import wait_until

from agent.spool import CaptureRecord, CaptureStore, spool_file_name
from agent.uploaders import DirectS3Uploader, PresignedUploader
from agent.worker import UploadWorker
from contract.errors import PermanentError, SessionExpired, TransientError
from contract.s3 import make_s3_client
from contract.screenshots import SignedUpload, object_key

START = datetime(2026, 11, 25, 18, 0, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CaptureStore]:
    capture_store = CaptureStore(tmp_path / "agent")
    yield capture_store
    capture_store.close()


def add_capture(store: CaptureStore, number: int, size_bytes: int = 1000) -> CaptureRecord:
    data = number.to_bytes(4, "big") * (size_bytes // 4)
    sha256_hex = hashlib.sha256(data).hexdigest()
    taken_at = START + timedelta(seconds=number)
    record = store.add(
        key=object_key("p/", "alice", taken_at, sha256_hex),
        taken_at=taken_at,
        timezone="Europe/Berlin",
        blurred=False,
        width=640,
        height=480,
        data=data,
        sha256=sha256_hex,
    )
    assert record is not None
    return record


class ScriptedUploader:
    """Answers each put with the next scripted outcome (an exception or None), then succeeds."""

    mode = "fake"

    def __init__(self, script: list[BaseException | None] | None = None) -> None:
        self.script = list(script or [])
        self.calls: list[str] = []
        self.stored: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def put(self, record: CaptureRecord, data: bytes) -> None:
        with self.lock:
            self.calls.append(record.key)
            outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        with self.lock:
            self.stored[record.key] = data


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


# --------------------------------------------------------------------------- the spool
def test_add_spools_a_private_file_and_records_it_as_queued(store: CaptureStore) -> None:
    record = add_capture(store, 1)
    assert record.status == "queued"
    assert record.path.parent == store.spool_dir
    assert record.path.name == spool_file_name(record.key)
    assert record.path.name.startswith("20261125T180001Z-")
    assert hashlib.sha256(record.path.read_bytes()).hexdigest() == record.sha256
    assert stat.S_IMODE(record.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.spool_dir.stat().st_mode) == 0o700
    assert store.pending() == [record]
    assert store.spool_bytes() == 1000


def test_the_same_capture_is_recorded_once(store: CaptureStore) -> None:
    add_capture(store, 1)
    data = (1).to_bytes(4, "big") * 250
    again = store.add(
        key=object_key("p/", "alice", START + timedelta(seconds=1), hashlib.sha256(data).hexdigest()),
        taken_at=START,
        timezone="UTC",
        blurred=False,
        width=1,
        height=1,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
    )
    assert again is None
    assert store.counts() == {"queued": 1, "uploaded": 0, "kept_aside": 0}


def test_registration_json_is_the_api_body(store: CaptureStore) -> None:
    body = add_capture(store, 2).to_registration_json()
    assert set(body) == {"key", "taken_at", "timezone", "blurred", "width", "height", "size_bytes", "sha256"}
    assert body["taken_at"] == "2026-11-25T18:00:02+00:00"


def test_mark_uploaded_deletes_the_file_and_keep_aside_keeps_it(store: CaptureStore) -> None:
    first, second = add_capture(store, 1), add_capture(store, 2)
    store.mark_uploaded(first.capture_id)
    store.keep_aside(second.capture_id, "store refused the upload: 403")
    assert not first.path.exists()
    assert second.path.exists()
    assert store.counts() == {"queued": 0, "uploaded": 1, "kept_aside": 1}
    assert store.kept_aside_reasons() == {"store refused the upload: 403": 1}
    assert store.spool_bytes() == 1000
    assert store.retry_kept_aside() == [second.capture_id]
    assert [record.capture_id for record in store.pending()] == [second.capture_id]


def test_recover_finishes_or_forgets_half_done_captures(store: CaptureStore, tmp_path: Path) -> None:
    complete, unwritten, vanished, uploaded = (add_capture(store, n) for n in range(1, 5))
    database = sqlite3.connect(tmp_path / "agent" / "agent.db")
    # A crash after the rename but before "queued", and one before the file existed:
    database.execute(
        "UPDATE captures SET status = 'writing' WHERE id IN (?, ?)",
        (complete.capture_id, unwritten.capture_id),
    )
    database.commit()
    database.close()
    unwritten.path.unlink()
    vanished.path.unlink()
    store.mark_uploaded(uploaded.capture_id)
    uploaded.path.write_bytes(b"left behind by a crash between commit and unlink")
    (store.spool_dir / ".half-written.jpg.tmp").write_bytes(b"partial")

    recovered = store.recover()

    assert [record.capture_id for record in recovered] == [complete.capture_id]
    assert store.get(unwritten.capture_id) is None
    kept = store.get(vanished.capture_id)
    assert kept is not None and kept.status == "kept_aside" and kept.reason == "spool file missing"
    assert not uploaded.path.exists()
    assert sorted(path.name for path in store.spool_dir.iterdir()) == [complete.path.name]


def test_the_store_shares_agent_db_in_wal_mode(store: CaptureStore, tmp_path: Path) -> None:
    database = sqlite3.connect(tmp_path / "agent" / "agent.db")
    assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    database.execute("CREATE TABLE IF NOT EXISTS samples (minute_start TEXT)")
    database.commit()
    database.close()
    add_capture(store, 1)
    assert store.counts()["queued"] == 1


# --------------------------------------------------------------------------- the worker
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
    worker = make_worker(
        store, uploader, concurrency=1, backoff_initial_seconds=0.04, backoff_max_seconds=1.0
    )
    worker.start()
    try:
        wait_until(lambda: store.counts()["uploaded"] == 1, message="the upload after 3 failures")
    finally:
        worker.stop()
    assert uploader.calls == [record.key] * 4
    delays = worker._backoff.delays_seconds
    assert len(delays) == 3
    # Equal jitter: each delay lies in [step/2, step] with steps 0.04, 0.08, 0.16.
    for delay, step in zip(delays, (0.04, 0.08, 0.16), strict=True):
        assert step / 2 <= delay <= step
    stored = store.get(record.capture_id)
    assert stored is not None and stored.attempts == 4


def test_backoff_is_capped_at_the_maximum(store: CaptureStore) -> None:
    add_capture(store, 1)
    uploader = ScriptedUploader([TransientError("down")] * 6)
    worker = make_worker(
        store, uploader, concurrency=1, backoff_initial_seconds=0.01, backoff_max_seconds=0.03
    )
    worker.start()
    try:
        wait_until(lambda: store.counts()["uploaded"] == 1, message="the upload after 6 failures")
    finally:
        worker.stop()
    assert max(worker._backoff.delays_seconds) <= 0.03


def test_retry_after_is_honoured(store: CaptureStore) -> None:
    add_capture(store, 1)
    uploader = ScriptedUploader([TransientError("429", retry_after_seconds=0.3)])
    worker = make_worker(store, uploader, concurrency=1, backoff_initial_seconds=0.01, backoff_max_seconds=5)
    worker.start()
    try:
        wait_until(lambda: store.counts()["uploaded"] == 1, message="the upload after a 429")
    finally:
        worker.stop()
    assert worker._backoff.delays_seconds == [0.3]


def test_one_failing_item_pauses_all_threads_while_offline(store: CaptureStore) -> None:
    for number in range(1, 11):
        add_capture(store, number)
    uploader = ScriptedUploader([TransientError("connection refused")] * 100)
    worker = make_worker(store, uploader, concurrency=4, backoff_initial_seconds=1.0, backoff_max_seconds=1.0)
    worker.start()
    try:
        wait_until(lambda: worker.status().offline, message="the worker to notice the outage")
        status = worker.status()
        assert status.next_retry_at is not None
        assert status.last_error == "connection refused"
        # Within the 0.5-1 s pause only the attempts already in flight happen (one per thread):
        # nobody hammers the store with the other captures.
        threading.Event().wait(0.3)
        assert len(uploader.calls) <= 4
    finally:
        worker.stop()
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
        threading.Event().wait(0.2)
        assert len(uploader.calls) == 1
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


# --------------------------------------------------------------------------- the uploaders' error mapping
@pytest.fixture
def s3_client(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    return make_s3_client("us-east-1", "http://127.0.0.1:9")


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (500, "InternalError", TransientError),
        (503, "SlowDown", TransientError),
        (408, "RequestTimeout", TransientError),
        (429, "TooManyRequests", TransientError),
        (403, "AccessDenied", PermanentError),
        (400, "InvalidArgument", PermanentError),
        (404, "NoSuchBucket", PermanentError),
    ],
)
def test_direct_uploader_classifies_s3_errors(
    store: CaptureStore, s3_client: Any, status: int, code: str, expected: type[Exception]
) -> None:
    record = add_capture(store, 1)
    with Stubber(s3_client) as stubber:
        stubber.add_client_error("put_object", service_error_code=code, http_status_code=status)
        with pytest.raises(expected):
            DirectS3Uploader(s3_client, "bucket").put(record, b"data")


def test_direct_uploader_treats_an_unreachable_endpoint_as_transient(
    store: CaptureStore, s3_client: Any
) -> None:
    with pytest.raises(TransientError, match="unreachable"):
        DirectS3Uploader(s3_client, "bucket").put(add_capture(store, 1), b"data")


class ScriptedAdapter(requests.adapters.BaseAdapter):
    """A requests transport that answers from a script, never touching the network."""

    def __init__(self, answers: list[tuple[int, str, dict[str, str]] | Exception]) -> None:
        super().__init__()
        self.answers = answers
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, text, headers = answer
        response = requests.Response()
        response.status_code = status
        response._content = text.encode()
        response.headers.update(headers)
        response.request = request
        response.url = str(request.url)
        return response

    def close(self) -> None:
        pass


def presigned_uploader(answers: list[Any]) -> tuple[PresignedUploader, ScriptedAdapter]:
    adapter = ScriptedAdapter(answers)
    session = requests.Session()
    session.mount("http://", adapter)

    def sign(record: CaptureRecord) -> SignedUpload:
        return SignedUpload(
            url=f"http://store.invalid/{record.key}?X-Amz-Signature=secret",
            headers={"Content-Type": "image/jpeg"},
            expires_at=START + timedelta(minutes=15),
            mode="s3",
        )

    return PresignedUploader(sign, session), adapter


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ((500, "", {}), TransientError),
        ((502, "", {}), TransientError),
        ((503, "", {"Retry-After": "7"}), TransientError),
        ((408, "", {}), TransientError),
        ((429, "", {}), TransientError),
        ((401, "", {}), SessionExpired),
        ((403, "<Message>Request has expired</Message>", {}), TransientError),
        ((403, "<Code>SignatureDoesNotMatch</Code>", {}), PermanentError),
        ((400, "", {}), PermanentError),
        ((413, "", {}), PermanentError),
        (requests.ConnectionError("refused"), TransientError),
        (requests.Timeout("slow"), TransientError),
    ],
)
def test_presigned_uploader_classifies_by_explicit_status(
    store: CaptureStore, answer: Any, expected: type[Exception]
) -> None:
    uploader, _ = presigned_uploader([answer])
    with pytest.raises(expected) as caught:
        uploader.put(add_capture(store, 1), b"jpeg")
    assert "secret" not in str(caught.value)
    if isinstance(answer, tuple) and "Retry-After" in answer[2]:
        assert isinstance(caught.value, TransientError) and caught.value.retry_after_seconds == 7.0


def test_presigned_uploader_puts_the_bytes_with_the_signed_headers(store: CaptureStore) -> None:
    uploader, adapter = presigned_uploader([(200, "", {})])
    record = add_capture(store, 1)
    uploader.put(record, b"jpeg bytes")
    sent = adapter.requests[0]
    assert sent.method == "PUT"
    assert sent.body == b"jpeg bytes"
    assert sent.headers["Content-Type"] == "image/jpeg"
    assert str(sent.url).startswith(f"http://store.invalid/{record.key}")
