"""The agent's crash-proof capture spool: every capture is on disk and in ``agent.db`` before it is queued.

A capture is written to ``<agent_dir>/spool/`` and recorded in the table ``captures`` of
``<agent_dir>/agent.db`` before it is queued. The worker (a ``queue.Queue`` feeding a few threads)
PUTs each file, registers it with ``POST /screenshots`` and only then deletes the local file, so a
``kill -9`` at any moment loses nothing: on start everything left in the spool is queued again.
Keys are content-addressed (:func:`contract.screenshots.object_key`), so a retried upload
overwrites the same object and can never create a duplicate. The uploaders are in
:mod:`agent.uploaders`, the worker in :mod:`agent.worker`. Each file has a sidecar
(:mod:`agent.spool_files`), so the queue can be rebuilt from the folder when agent.db lost its rows.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.localdb import DiskFull, LocalWriteFailed, immediate_transaction, is_disk_full, open_agent_db
from agent.spool_files import SPOOL_NAME, rebuild_capture, sidecar_path, write_sidecar
from contract.private_files import write_private_file
from contract.screenshots import ScreenshotRegistration
from time_manager import utc_now

logger = logging.getLogger(__name__)


QUEUED = "queued"
UPLOADED = "uploaded"
KEPT_ASIDE = "kept_aside"
# Deleted on the device before upload (issue 12): file gone, the fact not yet reported to the server.
WITHHELD = "withheld"
# ... and reported (``POST /api/me/withheld``); the row stays so the capture is never rebuilt.
WITHHELD_REPORTED = "withheld_reported"
_WRITING = "writing"  # row exists, file not yet renamed into place (a crash here leaves nothing)

_SELECT_BY_ID = (
    "SELECT id, key, file_name, taken_at, timezone, blurred, width, height, size_bytes, sha256,"
    " status, reason, attempts, monitor, server_id FROM captures WHERE id = ?"
)
_SELECT_BY_STATUS = (
    "SELECT id, key, file_name, taken_at, timezone, blurred, width, height, size_bytes, sha256,"
    " status, reason, attempts, monitor, server_id FROM captures WHERE status = ? ORDER BY id"
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
    monitor: int = 0  # 0-based, left to right: each monitor is its own capture (issue 13)
    server_id: int | None = None  # the server's screenshot id once uploaded (issue 12: delete by id)

    def registration(self) -> ScreenshotRegistration:
        """What ``POST /screenshots`` registers for this capture once its bytes are stored."""
        return ScreenshotRegistration(
            key=self.key,
            taken_at=self.taken_at,
            timezone=self.timezone,
            blurred=self.blurred,
            width=self.width,
            height=self.height,
            size_bytes=self.size_bytes,
            sha256=self.sha256,
            monitor=self.monitor,
        )


def spool_file_name(key: str) -> str:
    """The spool file of a key: its date folders folded into the name, e.g. ``20261125T180000Z-<hex>.jpg``."""
    parts = key.split("/")
    year, month, day, tail = parts[-4], parts[-3], parts[-2], parts[-1]
    return f"{year}{month}{day}T{tail}"


class CaptureStore:
    """The ``captures`` table and the spool folder; safe to call from any thread.

    Uses its own connection from :func:`agent.localdb.open_agent_db` (the outbox holds another).
    Files are 0600 in a 0700 folder. ``key_folder`` (``<prefix><username>/``) names the captures
    of spool files found without a record or a sidecar.
    """

    def __init__(self, agent_dir: Path, key_folder: str | None = None) -> None:
        self.agent_dir = Path(agent_dir)
        self.key_folder = key_folder
        self.spool_dir = self.agent_dir / "spool"
        self._connection = open_agent_db(self.agent_dir)
        self.spool_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.spool_dir, 0o700)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, immediate_transaction(self._connection) as connection:
            yield connection

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
            monitor=int(row[13]),
            server_id=None if row[14] is None else int(row[14]),
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
        monitor: int = 0,
    ) -> CaptureRecord | None:
        """Spool ``data`` durably and record it as queued; None when this key is already recorded.

        Order for crash safety: row (``writing``) → sidecar, temp file + fsync + rename → row
        ``queued``. A full disk raises :class:`~agent.localdb.DiskFull` and leaves nothing behind.
        """
        try:
            return self._add(key, taken_at, timezone, blurred, width, height, data, sha256, monitor)
        except (sqlite3.Error, OSError) as exc:
            if is_disk_full(exc):
                raise DiskFull(f"disk full: cannot spool the capture ({exc})") from exc
            raise LocalWriteFailed(f"cannot spool the capture: {exc}") from exc

    def _add(
        self, key: str, taken_at: datetime, timezone: str, blurred: bool, width: int, height: int,
        data: bytes, sha256: str, monitor: int = 0,
    ) -> CaptureRecord | None:
        name = spool_file_name(key)
        with self._transaction() as connection:
            cursor = connection.execute(
                "INSERT OR IGNORE INTO captures (key, file_name, taken_at, timezone, blurred, width, height,"
                " size_bytes, sha256, status, monitor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    monitor,
                ),
            )
            if cursor.rowcount == 0:
                logger.info("capture %s is already spooled; not adding it twice", key)
                return None
            capture_id = int(cursor.lastrowid or 0)
        path = self.spool_dir / name
        try:
            write_sidecar(path, {
                "key": key, "taken_at": taken_at.astimezone(UTC).isoformat(), "timezone": timezone,
                "blurred": blurred, "width": width, "height": height, "sha256": sha256, "monitor": monitor,
            })
            write_private_file(path, data)
        except BaseException:
            sidecar_path(path).unlink(missing_ok=True)
            try:
                with self._transaction() as connection:
                    connection.execute("DELETE FROM captures WHERE id = ?", (capture_id,))
            except sqlite3.Error:
                pass  # the row stays "writing" without a file: recover() removes it
            raise
        self.change_status(capture_id, QUEUED)
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
        return self.with_status(QUEUED)

    def kept_aside(self) -> list[CaptureRecord]:
        """Every capture kept aside (never deleted), oldest first."""
        return self.with_status(KEPT_ASIDE)

    def with_status(self, status: str) -> list[CaptureRecord]:
        """Every capture in ``status`` (e.g. ``withheld``: deleted here, not yet reported), oldest first."""
        with self._lock:
            rows = self._connection.execute(_SELECT_BY_STATUS, (status,)).fetchall()
        return [self._record(row) for row in rows]

    def record_attempt(self, capture_id: int) -> None:
        """Count one upload attempt."""
        with self._transaction() as connection:
            connection.execute("UPDATE captures SET attempts = attempts + 1 WHERE id = ?", (capture_id,))

    def mark_uploaded(
        self, capture_id: int, now: datetime | None = None, server_id: int | None = None
    ) -> None:
        """Record the upload as confirmed (with the server's id when it gave one), then delete the file.

        A crash between the two leaves a file whose row says uploaded; :meth:`recover` removes it.
        """
        moment = (now or utc_now()).astimezone(UTC).isoformat()
        with self._transaction() as connection:
            row = connection.execute("SELECT file_name FROM captures WHERE id = ?", (capture_id,)).fetchone()
            connection.execute(
                "UPDATE captures SET status = ?, reason = NULL, uploaded_at = ?, server_id = ? WHERE id = ?",
                (UPLOADED, moment, server_id, capture_id),
            )
        if row is not None:
            path = self.spool_dir / str(row[0])
            path.unlink(missing_ok=True)
            sidecar_path(path).unlink(missing_ok=True)

    def change_status(self, capture_id: int, status: str, reason: str | None = None,
                      only_from: tuple[str, ...] | None = None) -> bool:
        """Set a capture's status (and reason), if it is in one of ``only_from``; whether it changed."""
        condition = f" AND status IN ({', '.join('?' * len(only_from))})" if only_from else ""
        with self._transaction() as connection:
            cursor = connection.execute(
                f"UPDATE captures SET status = ?, reason = ? WHERE id = ?{condition}",  # noqa: S608 - only ?s
                (status, reason, capture_id, *(only_from or ())),
            )
        return cursor.rowcount > 0

    def keep_aside(self, capture_id: int, reason: str) -> None:
        """Park a capture that cannot be delivered, with the reason; its file is kept."""
        self.change_status(capture_id, KEPT_ASIDE, reason)

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
                "SELECT COALESCE(SUM(size_bytes), 0) FROM captures WHERE status NOT IN (?, ?, ?)",
                (UPLOADED, WITHHELD, WITHHELD_REPORTED),
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
        * half-written temp files are removed; files of uploaded or withheld rows are removed;
        * a queued row whose file vanished is kept aside (``spool file missing``), never dropped silently;
        * a file agent.db does not know (it was damaged, emptied or deleted) gets its row back.
        """
        for temp in self.spool_dir.glob(".*.tmp"):
            temp.unlink(missing_ok=True)
        self._adopt_unknown_files()
        spooled_names = {path.name for path in self.spool_dir.glob("*.jpg")}
        with self._lock:
            rows = self._connection.execute(_SELECT_BY_STATUS, (_WRITING,)).fetchall()
            if spooled_names:
                for gone in (UPLOADED, WITHHELD, WITHHELD_REPORTED):
                    rows += self._connection.execute(_SELECT_BY_STATUS, (gone,)).fetchall()
        for row in rows:
            record = self._record(row)
            if record.status != _WRITING:  # uploaded or withheld: a file left by a crash goes
                if record.path.name in spooled_names:
                    record.path.unlink(missing_ok=True)
                    sidecar_path(record.path).unlink(missing_ok=True)
                continue
            if _file_matches(record.path, record.size_bytes, record.sha256):
                self.change_status(record.capture_id, QUEUED)
            else:
                record.path.unlink(missing_ok=True)
                sidecar_path(record.path).unlink(missing_ok=True)
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


    def _adopt_unknown_files(self) -> int:
        """Give every spool file without a row its row back (queued, or kept aside if damaged)."""
        with self._lock:
            known = {str(row[0]) for row in self._connection.execute("SELECT file_name FROM captures")}
        adopted = 0
        for path in sorted(self.spool_dir.glob("*.jpg")):
            if path.name in known or SPOOL_NAME.match(path.name) is None:
                continue
            rebuilt = rebuild_capture(path, self.key_folder)
            if rebuilt is None:
                continue
            with self._transaction() as connection:
                cursor = connection.execute(
                    "INSERT OR IGNORE INTO captures (key, file_name, taken_at, timezone, blurred, width,"
                    " height, size_bytes, sha256, status, reason, monitor)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (rebuilt.key, rebuilt.file_name, rebuilt.taken_at.isoformat(), rebuilt.timezone,
                     int(rebuilt.blurred), rebuilt.width, rebuilt.height, rebuilt.size_bytes, rebuilt.sha256,
                     QUEUED if rebuilt.reason is None else KEPT_ASIDE, rebuilt.reason, rebuilt.monitor),
                )
            adopted += cursor.rowcount
        for sidecar in self.spool_dir.glob("*.json"):  # a crash between sidecar and JPEG
            if not sidecar.with_suffix(".jpg").exists():
                sidecar.unlink(missing_ok=True)
        if adopted:
            logger.warning("%d capture(s) found in the spool folder without a record; queued again", adopted)
        return adopted


def _file_matches(path: Path, size_bytes: int, sha256_hex: str) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return len(data) == size_bytes and hashlib.sha256(data).hexdigest() == sha256_hex
