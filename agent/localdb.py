"""The one opener of ``<agent_dir>/agent.db``: the capture spool's table and the minute outbox's table.

Every connection gets the same settings: WAL (the spool and the outbox each hold a connection and
write from different threads without blocking each other for long), ``synchronous=FULL`` and a
busy timeout. The schema carries a version (``PRAGMA user_version``) and is upgraded step by step
when an older file is opened; a file from a newer Vinova is refused rather than guessed at.

A damaged file (not a database, malformed pages, a failed integrity check) is moved aside as
``agent.db.corrupt-<UTC stamp>`` with a plain warning, the minutes still readable in it are copied
into a fresh file, and the capture spool rebuilds its queue from the files on disk
(:meth:`agent.spool.CaptureStore.recover`). Write failures for lack of space become
:class:`DiskFull`, so callers can keep what they hold and say "disk full" once.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from contract.errors import TransientError, VinovaError
from time_manager import utc_now

log = logging.getLogger(__name__)

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
    # Version 2: minutes the server refused (issue 10 item 6), kept with the reason and never resent.
    """
    CREATE TABLE IF NOT EXISTS set_aside_minutes (
        username     TEXT NOT NULL,
        minute_start TEXT NOT NULL,
        payload      TEXT NOT NULL,
        field        TEXT NOT NULL,
        reason       TEXT NOT NULL,
        set_aside_at TEXT NOT NULL,
        PRIMARY KEY (username, minute_start)
    );
    """,
    # Version 3: one image per monitor (issue 13); every capture spooled before was of monitor 0.
    """
    ALTER TABLE captures ADD COLUMN monitor INTEGER NOT NULL DEFAULT 0;
    """,
    # Version 4 (issue 12): the server's id of an uploaded capture, so the desktop can delete it.
    """
    ALTER TABLE captures ADD COLUMN server_id INTEGER;
    """,
)
SCHEMA_VERSION = len(_STEPS)
# SQLite's own names for a damaged file (Python ≥ 3.11 exposes them on the exception).
_DAMAGE_ERRORS = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})
_DISK_FULL_MESSAGE = "database or disk is full"


class LocalWriteFailed(TransientError):
    """agent.db could not be written (the disk, its permissions…); what was to be written is kept."""


class DiskFull(LocalWriteFailed):
    """A local write failed for lack of space (ENOSPC, SQLITE_FULL); it may pass once space is freed."""


def is_disk_full(error: BaseException) -> bool:
    """Whether an OSError or sqlite3 error means the disk (or its quota) is full."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(error, sqlite3.Error):
        name = getattr(error, "sqlite_errorname", "")
        return name == "SQLITE_FULL" or str(error).lower().startswith(_DISK_FULL_MESSAGE)
    return False


def is_damaged(error: BaseException) -> bool:
    """Whether a sqlite3 error means the file is not a (healthy) database."""
    if not isinstance(error, sqlite3.DatabaseError):
        return False
    name = getattr(error, "sqlite_errorname", "")
    text = str(error).lower()
    return name in _DAMAGE_ERRORS or "malformed" in text or "not a database" in text


class DamagedDatabase(VinovaError):
    """``agent.db`` failed its integrity check (raised inside the opener, which then moves it aside)."""


def open_agent_db(agent_dir: Path) -> sqlite3.Connection:
    """A new connection to ``agent.db`` (file 0600, folder 0700), upgraded to the current schema.

    The connection is in autocommit mode (``isolation_level=None``: callers write ``BEGIN
    IMMEDIATE``) and may be used from several threads behind the caller's own lock. A damaged file
    is moved aside once (see the module docstring) and a fresh one opened.
    """
    agent_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = agent_dir / DATABASE_NAME
    try:
        return _open(path)
    except (sqlite3.DatabaseError, DamagedDatabase) as exc:
        if isinstance(exc, sqlite3.DatabaseError) and not is_damaged(exc):
            raise
        aside = move_aside(path, str(exc))
    connection = _open(path)
    salvage_minutes(aside, connection)
    return connection


def _open(path: Path) -> sqlite3.Connection:
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
        # quick_check reads every page (a few ms for the agent's small file): a truncated or
        # overwritten file is found here, at start, not by a failing write an hour later.
        verdict = connection.execute("PRAGMA quick_check").fetchone()
        if verdict is None or verdict[0] != "ok":
            raise DamagedDatabase(f"integrity check failed: {verdict[0] if verdict else 'no answer'}")
        upgrade(connection)
    except BaseException:
        connection.close()
        raise
    return connection


def move_aside(path: Path, why: str) -> Path:
    """Rename a damaged ``agent.db`` (and its WAL files) to ``agent.db.corrupt-<UTC stamp>``; say so."""
    stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    number = 1
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{number}")
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.replace(aside.with_name(aside.name + suffix))
    path.replace(aside)
    log.warning(
        "the agent's local database %s was damaged (%s). It was moved aside to %s and a fresh one is "
        "made; activity minutes still readable in it are kept, and waiting screenshots are found "
        "again in the spool folder.", path, why, aside.name,
    )
    return aside


def salvage_minutes(damaged: Path, connection: sqlite3.Connection) -> int:
    """Copy every minute still readable in a damaged file into ``connection``; how many were saved."""
    rows: list[tuple[str, str, str]] = []
    try:
        source = sqlite3.connect(f"file:{damaged}?mode=ro", uri=True)
    except sqlite3.Error:
        return 0
    try:
        cursor = source.execute("SELECT username, minute_start, payload FROM samples")
        while True:
            try:
                row = cursor.fetchone()
            except sqlite3.Error:
                break
            if row is None:
                break
            rows.append((str(row[0]), str(row[1]), str(row[2])))
    except sqlite3.Error:
        pass
    finally:
        source.close()
    if rows:
        with immediate_transaction(connection):
            connection.executemany(
                "INSERT OR IGNORE INTO samples (username, minute_start, payload) VALUES (?, ?, ?)", rows
            )
        log.warning("%d activity minutes were saved from the damaged database", len(rows))
    return len(rows)


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
