"""The agent's local SQLite outbox of activity samples: written before sending, deleted once accepted.

A completed minute is committed here within seconds of ending, so killing the agent (even with -9)
loses at most the minute in progress. The table ``samples`` lives in ``<agent_dir>/agent.db``, opened
by :func:`agent.localdb.open_agent_db` (which also holds the capture spool's table).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent.localdb import immediate_transaction, open_agent_db
from contract.activity import MinuteSample


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
        with self._lock, immediate_transaction(self._connection) as connection:
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
        with self._lock, immediate_transaction(self._connection) as connection:
            connection.executemany("DELETE FROM samples WHERE username = ? AND minute_start = ?", keys)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._connection.close()
