"""The agent's local SQLite outbox of activity samples: written before sending, deleted once accepted.

Minutes the server refused are moved to ``set_aside_minutes`` with the reason: kept, counted and
shown, never sent again (issue 10 item 6).

A completed minute is committed here within seconds of ending, so killing the agent (even with -9)
loses at most the minute in progress. The table ``samples`` lives in ``<agent_dir>/agent.db``, opened
by :func:`agent.localdb.open_agent_db` (which also holds the capture spool's table).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.localdb import DiskFull, LocalWriteFailed, immediate_transaction, is_disk_full, open_agent_db
from contract.activity import MinuteSample
from time_manager import utc_now


@dataclass(frozen=True, slots=True)
class SetAside:
    """A minute the server refused: its ``POST /activity`` JSON, the field to blame and why."""

    payload: dict[str, Any]
    field: str
    reason: str


@contextmanager
def _writing(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction; a full disk becomes DiskFull (the caller keeps what it holds)."""
    try:
        with immediate_transaction(connection) as writing:
            yield writing
    except (sqlite3.Error, OSError) as exc:
        if is_disk_full(exc):
            raise DiskFull(f"disk full: cannot write agent.db ({exc})") from exc
        raise LocalWriteFailed(f"cannot write agent.db: {exc}") from exc


class Outbox:
    """Activity samples waiting for the server, per user; safe to call from any thread."""

    def __init__(self, agent_dir: Path) -> None:
        self._connection = open_agent_db(agent_dir)
        self._lock = threading.Lock()

    def add(self, username: str, samples: Iterable[MinuteSample]) -> int:
        """Store samples (a minute stored twice keeps the newer copy); returns how many."""
        payloads = [sample.to_json() for sample in samples]
        rows = [
            (username, str(payload["minute_start"]), json.dumps(payload, sort_keys=True))
            for payload in payloads
        ]
        if not rows:
            return 0
        with self._lock, _writing(self._connection) as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO samples (username, minute_start, payload) VALUES (?, ?, ?)", rows
            )
        return len(rows)

    def pending(self, username: str, limit: int = 500) -> list[dict[str, Any]]:
        """The oldest unsent samples of ``username`` as ``POST /activity`` JSON, oldest first."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT payload FROM samples WHERE username = ? ORDER BY minute_start LIMIT ?",
                (username, limit),
            ).fetchall()
        return [json.loads(payload) for (payload,) in rows]

    def count(self, username: str | None = None) -> int:
        """How many samples wait (for one user, or all)."""
        with self._lock:
            if username is None:
                row = self._connection.execute("SELECT COUNT(*) FROM samples").fetchone()
            else:
                row = self._connection.execute(
                    "SELECT COUNT(*) FROM samples WHERE username = ?", (username,)
                ).fetchone()
        return int(row[0])

    def remove(self, username: str, minute_starts: Iterable[str]) -> None:
        """Forget samples the server has accepted."""
        keys = [(username, minute_start) for minute_start in minute_starts]
        # One transaction: in autocommit mode each DELETE would be its own commit and fsync.
        with self._lock, _writing(self._connection) as connection:
            connection.executemany("DELETE FROM samples WHERE username = ? AND minute_start = ?", keys)

    def set_aside(self, username: str, minutes: Iterable[SetAside], now: datetime | None = None) -> int:
        """Move refused minutes out of the queue into ``set_aside_minutes`` (one transaction)."""
        moment = (now or utc_now()).isoformat()
        rows = [
            (username, str(item.payload["minute_start"]), json.dumps(item.payload, sort_keys=True),
             item.field, item.reason, moment)
            for item in minutes
        ]
        if not rows:
            return 0
        with self._lock, _writing(self._connection) as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO set_aside_minutes (username, minute_start, payload, field, reason,"
                " set_aside_at) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            connection.executemany(
                "DELETE FROM samples WHERE username = ? AND minute_start = ?", [row[:2] for row in rows]
            )
        return len(rows)

    def set_aside_count(self, username: str) -> int:
        """How many minutes of ``username`` the server refused (kept, never resent)."""
        with self._lock:
            row = self._connection.execute(
                "SELECT COUNT(*) FROM set_aside_minutes WHERE username = ?", (username,)
            ).fetchone()
        return int(row[0])

    def set_aside_reasons(self, username: str) -> dict[str, int]:
        """``{reason: count}`` of the minutes set aside for ``username``."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT reason, COUNT(*) FROM set_aside_minutes WHERE username = ? GROUP BY reason",
                (username,),
            ).fetchall()
        return {str(reason): int(count) for reason, count in rows}

    def set_aside_minutes(self, username: str) -> list[SetAside]:
        """Every minute set aside for ``username``, oldest first."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT payload, field, reason FROM set_aside_minutes WHERE username = ?"
                " ORDER BY minute_start",
                (username,),
            ).fetchall()
        return [SetAside(json.loads(payload), str(field), str(reason)) for payload, field, reason in rows]

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._connection.close()
