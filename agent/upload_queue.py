"""The agent's crash-proof capture spool and the upload worker that drains it to the object store.

A capture is written to ``<agent_dir>/spool/`` and recorded in the table ``captures`` of
``<agent_dir>/agent.db`` before it is queued. The worker (a ``queue.Queue`` feeding a few threads)
PUTs each file, registers it with ``POST /screenshots`` and only then deletes the local file, so a
``kill -9`` at any moment loses nothing: on start everything left in the spool is queued again.
Keys are content-addressed (:func:`storage.object_key`), so a retried upload overwrites the same
object and can never create a duplicate.

Uploaders (one interface, three ways):

* :class:`DirectS3Uploader` — the agent holds bucket credentials (boto3, standard AWS chain);
* :class:`PresignedUploader` — the server signs each PUT (S3 presigned URL or its own local store).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import requests

from contract.errors import PermanentError, SessionExpired, TransientError
from contract.private_files import write_private_file
from contract.s3 import make_s3_client
from contract.screenshots import JPEG_CONTENT_TYPE, SignedUpload

logger = logging.getLogger(__name__)

__all__ = [
    "CaptureRecord",
    "CaptureStore",
    "DirectS3Uploader",
    "PresignedUploader",
    "UploadStatus",
    "UploadWorker",
    "Uploader",
    "make_s3_client",
]

DEFAULT_SPOOL_MAX_MB = 2048  # VINOVA_SPOOL_MAX_MB: captures pause (never delete) beyond this
QUEUED = "queued"
UPLOADED = "uploaded"
KEPT_ASIDE = "kept_aside"
_WRITING = "writing"  # row exists, file not yet renamed into place (a crash here leaves nothing)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS captures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    file_name TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    timezone TEXT NOT NULL,
    blurred INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    uploaded_at TEXT
);
CREATE INDEX IF NOT EXISTS captures_status ON captures (status, id);
"""
_SELECT_BY_ID = (
    "SELECT id, key, file_name, taken_at, timezone, blurred, width, height, size_bytes, sha256,"
    " status, reason, attempts FROM captures WHERE id = ?"
)
_SELECT_BY_STATUS = (
    "SELECT id, key, file_name, taken_at, timezone, blurred, width, height, size_bytes, sha256,"
    " status, reason, attempts FROM captures WHERE status = ? ORDER BY id"
)


@dataclass(frozen=True, slots=True)
class CaptureRecord:
    """One capture in the spool, as recorded in the agent's SQLite."""

    capture_id: int
    key: str
    path: Path
    taken_at: datetime
    timezone: str
    blurred: bool
    width: int
    height: int
    size_bytes: int
    sha256: str
    status: str = QUEUED
    reason: str | None = None
    attempts: int = 0

    def to_registration_json(self) -> dict[str, Any]:
        """The body of ``POST /screenshots`` (docs/API.md)."""
        return {
            "key": self.key,
            "taken_at": self.taken_at.isoformat(),
            "timezone": self.timezone,
            "blurred": self.blurred,
            "width": self.width,
            "height": self.height,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
        }


def spool_file_name(key: str) -> str:
    """The spool file of a key: its date folders folded into the name, e.g. ``20261125T180000Z-<hex>.jpg``."""
    parts = key.split("/")
    year, month, day, tail = parts[-4], parts[-3], parts[-2], parts[-1]
    return f"{year}{month}{day}T{tail}"


class CaptureStore:
    """The ``captures`` table and the spool folder; safe to call from any thread.

    Uses its own SQLite connection (WAL, ``busy_timeout``) because ``agent.db`` is shared with the
    activity samples. Files are 0600 in a 0700 folder.
    """

    def __init__(self, agent_dir: Path, *, busy_timeout_ms: int = 5000) -> None:
        self.agent_dir = Path(agent_dir)
        self.spool_dir = self.agent_dir / "spool"
        self.agent_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.spool_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.spool_dir, 0o700)
        database = self.agent_dir / "agent.db"
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(
            database, timeout=busy_timeout_ms / 1000, check_same_thread=False, isolation_level=None
        )
        os.chmod(database, 0o600)
        self._connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        self._connection.execute("PRAGMA journal_mode = WAL")
        self._connection.execute("PRAGMA synchronous = NORMAL")
        self._connection.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def _record(self, row: tuple[Any, ...]) -> CaptureRecord:
        return CaptureRecord(
            capture_id=int(row[0]),
            key=str(row[1]),
            path=self.spool_dir / str(row[2]),
            taken_at=datetime.fromisoformat(str(row[3])),
            timezone=str(row[4]),
            blurred=bool(row[5]),
            width=int(row[6]),
            height=int(row[7]),
            size_bytes=int(row[8]),
            sha256=str(row[9]),
            status=str(row[10]),
            reason=row[11],
            attempts=int(row[12]),
        )

    def add(
        self,
        *,
        key: str,
        taken_at: datetime,
        timezone: str,
        blurred: bool,
        width: int,
        height: int,
        data: bytes,
        sha256: str,
    ) -> CaptureRecord | None:
        """Spool ``data`` durably and record it as queued; None when this key is already recorded.

        Order for crash safety: row (``writing``) → temp file + fsync + rename → row ``queued``.
        """
        name = spool_file_name(key)
        with self._transaction() as connection:
            cursor = connection.execute(
                "INSERT OR IGNORE INTO captures (key, file_name, taken_at, timezone, blurred, width, height,"
                " size_bytes, sha256, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    name,
                    taken_at.astimezone(UTC).isoformat(),
                    timezone,
                    int(blurred),
                    width,
                    height,
                    len(data),
                    sha256,
                    _WRITING,
                ),
            )
            if cursor.rowcount == 0:
                logger.info("capture %s is already spooled; not adding it twice", key)
                return None
            capture_id = int(cursor.lastrowid or 0)
        try:
            write_private_file(self.spool_dir / name, data)
        except BaseException:
            with self._transaction() as connection:
                connection.execute("DELETE FROM captures WHERE id = ?", (capture_id,))
            raise
        with self._transaction() as connection:
            connection.execute("UPDATE captures SET status = ? WHERE id = ?", (QUEUED, capture_id))
        record = self.get(capture_id)
        assert record is not None
        return record

    def get(self, capture_id: int) -> CaptureRecord | None:
        """The record of ``capture_id``, or None."""
        with self._lock:
            row = self._connection.execute(
                _SELECT_BY_ID, (capture_id,)
            ).fetchone()
        return None if row is None else self._record(row)

    def pending(self) -> list[CaptureRecord]:
        """Every queued capture, oldest first."""
        with self._lock:
            rows = self._connection.execute(
                _SELECT_BY_STATUS, (QUEUED,)
            ).fetchall()
        return [self._record(row) for row in rows]

    def kept_aside(self) -> list[CaptureRecord]:
        """Every capture kept aside (never deleted), oldest first."""
        with self._lock:
            rows = self._connection.execute(
                _SELECT_BY_STATUS, (KEPT_ASIDE,)
            ).fetchall()
        return [self._record(row) for row in rows]

    def record_attempt(self, capture_id: int) -> None:
        """Count one upload attempt."""
        with self._transaction() as connection:
            connection.execute("UPDATE captures SET attempts = attempts + 1 WHERE id = ?", (capture_id,))

    def mark_uploaded(self, capture_id: int, now: datetime | None = None) -> None:
        """Record the upload as confirmed, then delete the local file.

        A crash between the two leaves a file whose row says uploaded; :meth:`recover` removes it.
        """
        moment = (now or datetime.now(UTC)).astimezone(UTC).isoformat()
        with self._transaction() as connection:
            row = connection.execute("SELECT file_name FROM captures WHERE id = ?", (capture_id,)).fetchone()
            connection.execute(
                "UPDATE captures SET status = ?, reason = NULL, uploaded_at = ? WHERE id = ?",
                (UPLOADED, moment, capture_id),
            )
        if row is not None:
            (self.spool_dir / str(row[0])).unlink(missing_ok=True)

    def keep_aside(self, capture_id: int, reason: str) -> None:
        """Park a capture that cannot be delivered, with the reason; its file is kept."""
        with self._transaction() as connection:
            connection.execute(
                "UPDATE captures SET status = ?, reason = ? WHERE id = ?", (KEPT_ASIDE, reason, capture_id)
            )

    def retry_kept_aside(self) -> list[int]:
        """Queue every kept-aside capture whose file still exists again (e.g. after fixing a bucket)."""
        ids = [record.capture_id for record in self.kept_aside() if record.path.exists()]
        with self._transaction() as connection:
            connection.executemany(
                "UPDATE captures SET status = ?, reason = NULL WHERE id = ?", [(QUEUED, i) for i in ids]
            )
        return ids

    def spool_bytes(self) -> int:
        """Bytes the spool holds (queued, kept aside and being written)."""
        with self._lock:
            row = self._connection.execute(
                "SELECT COALESCE(SUM(size_bytes), 0) FROM captures WHERE status != ?", (UPLOADED,)
            ).fetchone()
        return int(row[0])

    def counts(self) -> dict[str, int]:
        """``{"queued": n, "uploaded": n, "kept_aside": n}``."""
        result = {QUEUED: 0, UPLOADED: 0, KEPT_ASIDE: 0}
        with self._lock:
            rows = self._connection.execute(
                "SELECT status, COUNT(*) FROM captures GROUP BY status"
            ).fetchall()
        for status, count in rows:
            if status in result:
                result[status] = int(count)
        return result

    def kept_aside_reasons(self) -> dict[str, int]:
        """``{reason: count}`` of the captures kept aside."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT reason, COUNT(*) FROM captures WHERE status = ? GROUP BY reason", (KEPT_ASIDE,)
            ).fetchall()
        return {str(reason): int(count) for reason, count in rows}

    def last_uploaded_at(self) -> datetime | None:
        """When the newest upload was confirmed."""
        with self._lock:
            row = self._connection.execute(
                "SELECT MAX(uploaded_at) FROM captures WHERE status = ?", (UPLOADED,)
            ).fetchone()
        return None if row is None or row[0] is None else datetime.fromisoformat(str(row[0]))

    def recover(self) -> list[CaptureRecord]:
        """Make the spool consistent after a crash; returns every capture that is queued.

        * a row still ``writing`` whose file is complete (right size and sha256) becomes queued;
          without its file it is removed (the capture never finished);
        * half-written temp files are removed; files of uploaded rows are removed;
        * a queued row whose file vanished is kept aside (``spool file missing``), never dropped silently.
        """
        for temp in self.spool_dir.glob(".*.tmp"):
            temp.unlink(missing_ok=True)
        spooled_names = {path.name for path in self.spool_dir.glob("*.jpg")}
        with self._lock:
            rows = self._connection.execute(_SELECT_BY_STATUS, (_WRITING,)).fetchall()
            if spooled_names:
                rows += self._connection.execute(_SELECT_BY_STATUS, (UPLOADED,)).fetchall()
        for row in rows:
            record = self._record(row)
            if record.status == UPLOADED:
                if record.path.name in spooled_names:
                    record.path.unlink(missing_ok=True)
                continue
            if _file_matches(record.path, record.size_bytes, record.sha256):
                with self._transaction() as connection:
                    connection.execute(
                        "UPDATE captures SET status = ? WHERE id = ?", (QUEUED, record.capture_id)
                    )
            else:
                record.path.unlink(missing_ok=True)
                with self._transaction() as connection:
                    connection.execute("DELETE FROM captures WHERE id = ?", (record.capture_id,))
        queued = self.pending()
        alive: list[CaptureRecord] = []
        for record in queued:
            if record.path.exists():
                alive.append(record)
            else:
                logger.warning("capture %s lost its spool file; kept aside", record.key)
                self.keep_aside(record.capture_id, "spool file missing")
        return alive


def _file_matches(path: Path, size_bytes: int, sha256_hex: str) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return len(data) == size_bytes and hashlib.sha256(data).hexdigest() == sha256_hex


# --------------------------------------------------------------------------- uploaders
class Uploader(Protocol):
    """Puts one capture's bytes into the object store. Called on an upload thread; blocks on the network.

    Raises TransientError (retry later), PermanentError (keep aside) or SessionExpired (sign in again).
    """

    def put(self, record: CaptureRecord, data: bytes) -> None:
        """Store ``data`` under ``record.key``."""
        ...


def _retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class DirectS3Uploader:
    """PUTs with the agent's own boto3 client (``S3_BUCKET`` on the agent, standard AWS credentials)."""

    mode = "direct"

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put(self, record: CaptureRecord, data: bytes) -> None:
        """``put_object``; botocore errors become TransientError/PermanentError."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            self.client.put_object(
                Bucket=self.bucket, Key=record.key, Body=data, ContentType=JPEG_CONTENT_TYPE
            )
        except ClientError as exc:
            response = exc.response
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = response.get("Error", {}).get("Code", "")
            retry_after = _retry_after_seconds(
                response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after")
            )
            if isinstance(status, int) and (status >= 500 or status in (408, 429)):
                raise TransientError(f"S3 answered {status} {code}", retry_after) from exc
            if code in {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"}:
                raise TransientError(f"S3 answered {code}", retry_after) from exc
            raise PermanentError(f"S3 refused the upload: {status} {code}") from exc
        except NoCredentialsError as exc:
            raise PermanentError("no AWS credentials for the bucket (aws configure)") from exc
        except BotoCoreError as exc:
            # Connection refused/reset/closed, timeouts, DNS: all may pass.
            raise TransientError(f"S3 unreachable: {type(exc).__name__}") from exc


class PresignedUploader:
    """Asks the server to sign each PUT (``POST /uploads/sign``), then PUTs with ``requests``.

    ``sign`` is called on the upload thread and raises the same three errors as :class:`Uploader`.
    """

    mode = "server-signed"

    def __init__(
        self,
        sign: Callable[[CaptureRecord], SignedUpload],
        session: requests.Session,
        *,
        timeout_seconds: tuple[float, float] = (5.0, 60.0),
    ) -> None:
        self.sign = sign
        self.session = session
        self.timeout_seconds = timeout_seconds

    def put(self, record: CaptureRecord, data: bytes) -> None:
        """Sign, PUT, classify the answer by explicit status codes."""
        signed = self.sign(record)
        try:
            response = self.session.request(
                signed.method, signed.url, data=data, headers=signed.headers, timeout=self.timeout_seconds
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"upload of {record.key} failed: {type(exc).__name__}") from exc
        except requests.RequestException as exc:
            raise TransientError(f"upload of {record.key} failed: {type(exc).__name__}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
        if status >= 500 or status in (408, 429):
            raise TransientError(f"store answered {status}", retry_after)
        if status == 401:
            raise SessionExpired()
        if status == 403 and "expired" in response.text.lower():
            # A URL that outlived its 15 minutes (a long outage mid-PUT): sign again next time.
            raise TransientError("the signed URL expired", retry_after)
        raise PermanentError(f"store refused the upload: {status}")


# --------------------------------------------------------------------------- the worker
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


@dataclass
class _Backoff:
    """Shared by every upload thread: one failing item pauses them all (no hammering while offline)."""

    consecutive_failures: int = 0
    not_before_monotonic: float = 0.0
    last_failure_monotonic: float = 0.0
    last_error: str | None = None
    delays_seconds: list[float] = field(default_factory=list)


class UploadWorker:
    """A ``queue.Queue`` of capture ids drained by ``concurrency`` threads, with global backoff.

    Per item: read file → ``uploader.put`` → ``register`` (POST /screenshots, idempotent) → mark
    uploaded → delete the local file. TransientError: back off (1 s doubling to 5 min, with jitter)
    and try again; SessionExpired: stop sending until :meth:`resume`; PermanentError: keep aside.
    """

    def __init__(
        self,
        *,
        store: CaptureStore,
        uploader: Uploader,
        register: Callable[[CaptureRecord], None],
        concurrency: int = 4,
        backoff_initial_seconds: float = 1.0,
        backoff_max_seconds: float = 300.0,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.uploader = uploader
        self.register = register
        self.concurrency = max(1, concurrency)
        self.backoff_initial_seconds = backoff_initial_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self._rng = rng or random.Random()
        self._monotonic = monotonic
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._queued_ids: set[int] = set()
        self._condition = threading.Condition()
        self._stopping = False
        self._session_expired = False
        self._backoff = _Backoff()
        self._threads: list[threading.Thread] = []

    # ----------------------------------------------------------------- control
    def start(self) -> None:
        """Queue everything left in the spool (crash recovery), then start the upload threads."""
        if self._threads:
            return
        with self._condition:
            self._stopping = False
        recovered = self.store.recover()
        for record in recovered:
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
        # Forget what the old threads had queued; start() re-queues it from the spool.
        with self._condition:
            self._queued_ids.clear()
        self._queue = queue.Queue()

    @property
    def session_expired(self) -> bool:
        """True after a 401: nothing is sent until :meth:`resume` (after a new sign-in)."""
        with self._condition:
            return self._session_expired

    def resume(self) -> None:
        """Send again after a new sign-in; also clears the backoff so uploads start at once."""
        with self._condition:
            self._session_expired = False
            self._backoff.not_before_monotonic = 0.0
            self._backoff.consecutive_failures = 0
            self._condition.notify_all()

    def status(self) -> UploadStatus:
        """Counts and retry state for the GUI."""
        counts = self.store.counts()
        with self._condition:
            remaining = self._backoff.not_before_monotonic - self._monotonic()
            offline = self._backoff.consecutive_failures > 0
            last_error = self._backoff.last_error
            session_expired = self._session_expired
        next_retry_at = datetime.now(UTC) + timedelta(seconds=remaining) if remaining > 0 else None
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
        )

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
                remaining = self._backoff.not_before_monotonic - self._monotonic()
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
            try:
                requeue = self._upload_one(capture_id)
            except Exception:  # the job boundary: a bug must not kill the thread or lose the capture
                logger.exception("unexpected error uploading capture %s; will retry", capture_id)
                self._note_failure("unexpected error", None, self._monotonic())
                requeue = True
            with self._condition:
                stopping = self._stopping
                if not requeue or stopping:
                    self._queued_ids.discard(capture_id)
            if requeue and not stopping:
                work.put(capture_id)

    def _upload_one(self, capture_id: int) -> bool:
        """Deliver one capture; True when it must be tried again later."""
        record = self.store.get(capture_id)
        if record is None or record.status != QUEUED:
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
            self.register(record)
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
        self.store.mark_uploaded(capture_id)
        self._note_success()
        logger.debug("uploaded %s", record.key)
        return False

    def _note_failure(self, message: str, retry_after_seconds: float | None, started: float) -> None:
        with self._condition:
            backoff = self._backoff
            # Attempts that were already in flight when the last failure was seen do not escalate
            # the delay again: one outage seen by four threads is still one failure.
            if started >= backoff.last_failure_monotonic or backoff.consecutive_failures == 0:
                backoff.consecutive_failures += 1
            backoff.last_failure_monotonic = self._monotonic()
            ceiling = min(
                self.backoff_max_seconds,
                self.backoff_initial_seconds * 2 ** min(backoff.consecutive_failures - 1, 30),
            )
            # "Equal jitter": at least half the step, so a fleet of agents spreads out but still backs off.
            delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
            if retry_after_seconds is not None:
                delay = max(delay, min(retry_after_seconds, self.backoff_max_seconds))
            candidate = self._monotonic() + delay
            if candidate > backoff.not_before_monotonic:
                backoff.not_before_monotonic = candidate
                backoff.delays_seconds.append(delay)
                del backoff.delays_seconds[:-50]
            first = backoff.last_error is None
            backoff.last_error = message
        log = logger.warning if first else logger.info
        log("upload failed (%s); retrying in %.1f s", message, delay)

    def _note_success(self) -> None:
        with self._condition:
            if self._backoff.consecutive_failures:
                logger.info("uploads are flowing again")
            self._backoff.consecutive_failures = 0
            self._backoff.last_error = None
