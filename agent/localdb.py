"""The one opener of ``<agent_dir>/agent.db``: the capture spool's table and the minute outbox's table.

Every connection gets the same settings: WAL (the spool and the outbox each hold a connection and
write from different threads without blocking each other for long), ``synchronous=FULL`` and a
busy timeout. The schema carries a version (``PRAGMA user_version``) and is upgraded step by step
when an older file is opened; a file from a newer Vinova is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from contract.errors import VinovaError

DATABASE_NAME = "agent.db"
BUSY_TIMEOUT_SECONDS = 10.0
# FULL, not NORMAL: in WAL mode NORMAL survives a kill -9 but a power cut may undo the last commits,
# and a capture whose file was fsynced but whose row was undone would never be uploaded. The agent
# commits a few times a minute, so an fsync per commit costs nothing that shows.
SYNCHRONOUS = "FULL"

# Version 0 is every agent.db written before the schema was versioned (commit 03f9600 and earlier):
# each part created its own table on first use, so either table may be missing. Version 1 holds
# both tables; the step creates whatever is missing and keeps every row.
_STEPS: tuple[str, ...] = (
    """
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
    CREATE TABLE IF NOT EXISTS samples (
        username     TEXT NOT NULL,
        minute_start TEXT NOT NULL,
        payload      TEXT NOT NULL,
        PRIMARY KEY (username, minute_start)
    );
    """,
)
SCHEMA_VERSION = len(_STEPS)


def open_agent_db(agent_dir: Path) -> sqlite3.Connection:
    """A new connection to ``agent.db`` (file 0600, folder 0700), upgraded to the current schema.

    The connection is in autocommit mode (``isolation_level=None``: callers write ``BEGIN
    IMMEDIATE``) and may be used from several threads behind the caller's own lock.
    """
    agent_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = agent_dir / DATABASE_NAME
    if not path.exists():
        path.touch(mode=0o600)
    path.chmod(0o600)
    connection = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False, isolation_level=None
    )
    try:
        connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
        upgrade(connection)
    except BaseException:
        connection.close()
        raise
    return connection


@contextmanager
def immediate_transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` when the block raises (one fsync per block)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def schema_version(connection: sqlite3.Connection) -> int:
    """The schema version the file says it holds (0 for a file from before versioning)."""
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def upgrade(connection: sqlite3.Connection) -> None:
    """Run every missing step and its version bump, all in one transaction (all or nothing)."""
    with immediate_transaction(connection):  # one opener at a time decides what is missing
        version = schema_version(connection)
        if version > SCHEMA_VERSION:
            raise VinovaError(
                f"agent.db has schema version {version}, newer than this agent's {SCHEMA_VERSION}: "
                "update Vinova or move the file away"
            )
        for number in range(version, SCHEMA_VERSION):
            for statement in _STEPS[number].split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number + 1}")
