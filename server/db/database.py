"""The engine, sessions and Alembic migrations: the schema is created or upgraded on start, losing nothing."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, Row, make_url
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.base import Executable

from contract.errors import TransientError
from server.db import retention_runs  # noqa: F401 - puts its table on Base.metadata with the models

logger = logging.getLogger(__name__)


MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# The PostgreSQL advisory lock every node takes around its migration ("vinova" in ASCII): nodes started
# together upgrade one after the other, so the schema is migrated once (issue 14). Database-wide.
MIGRATION_LOCK_KEY = 0x76696E6F7661
MIGRATION_LOCK_SUFFIX = ".migrate-lock"
# A database host that drops packets must not hold a start or a health check for minutes.
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10
# A pooled connection that sat unused this long is pinged before it is handed out (a restarted server, a
# firewall or a connection pooler drops idle connections); one in steady use is not: a ping per checkout
# was a round trip per request, ~15 % of a busy node's time (issue 14). A connection that breaks while in
# use fails its one request with a 503 (app.py) and the pool replaces it.
PING_AFTER_IDLE_SECONDS = 10.0
# Connections the pool keeps open: one per thread of a node (app.serve_options) plus the background jobs.
# SQLAlchemy's default keeps 5 and closes every connection above that when it is returned, so eight busy
# threads opened and closed ~10 PostgreSQL connections a second (a backend forked, authenticated and its
# caches rebuilt each time) under issue 14's load; SQLite reran its pragmas as often.
POOL_SIZE = 10
_RETURNED_AT = "vinova_returned_at"


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Foreign keys on, and the write-ahead log (issue 14's one-node load).

    In WAL mode readers never wait for the writer and a commit is one append + one sync of the log
    instead of the rollback journal's several syncs, so thousands of agents' minutes no longer queue
    behind each other. Synchronous stays FULL: a minute the server acknowledged survives a power cut,
    since the agent forgets it on that answer. The mode is kept in the file.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


class IdlePing:
    """Pool events: a connection is pinged on checkout when it has been idle ``idle_seconds`` or more."""

    def __init__(self, engine: Engine, idle_seconds: float) -> None:
        self._dialect = engine.dialect
        self.idle_seconds = idle_seconds
        event.listen(engine, "connect", self.returned)
        event.listen(engine, "checkin", self.returned)
        event.listen(engine, "checkout", self.checkout)

    def returned(self, dbapi_connection: Any, record: Any) -> None:
        """A connection just opened or just given back: it counts as used now."""
        record.info[_RETURNED_AT] = time.monotonic()

    def checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        """Ping a connection that idled; a dead one raises DisconnectionError: the pool opens another."""
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is not None and time.monotonic() - returned_at < self.idle_seconds:
            return
        try:
            self._dialect.do_ping(dbapi_connection)
        except Exception as exc:  # whatever the driver raises for a dead connection
            raise DisconnectionError("a pooled connection no longer answers") from exc


class _RequestConnection:
    """The one pooled connection of a :meth:`Database.request_scope`, checked out on first use."""

    __slots__ = ("_engine", "connection")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.connection: Connection | None = None

    def get(self) -> Connection:
        if self.connection is None:
            self.connection = self._engine.connect()
        return self.connection

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class Database:
    """An engine plus a session factory; ``session()`` is one transaction."""

    def __init__(self, url: str, ping_after_idle_seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
        parsed = make_url(url)
        self.url = url
        self.dialect_name = parsed.get_backend_name()
        connect_args: dict[str, Any] = {}
        if self.dialect_name == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            connect_args = {"timeout": 30, "check_same_thread": False}
        elif self.dialect_name == "postgresql" and "connect_timeout" not in parsed.query:
            connect_args = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS}
        self.engine: Engine = create_engine(url, connect_args=connect_args, pool_size=POOL_SIZE)
        # A local file has no connection a server could drop: no ping there.
        self.idle_ping: IdlePing | None = None
        if self.dialect_name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.idle_ping = IdlePing(self.engine, ping_after_idle_seconds)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite admits one writer; its busy handler makes the others sleep and retry (1, 2, 5 … 100 ms),
        # so under load the lock sits free while every waiter sleeps. Writers of one process queue here
        # instead and start the moment the previous one commits (issue 14's one-node load).
        self._write_lock = threading.Lock() if self.dialect_name == "sqlite" else None
        # The connection of the request_scope this thread is in, if any (a ContextVar: per thread).
        self._scope: ContextVar[_RequestConnection | None] = ContextVar(f"vinova-db-{id(self)}", default=None)

    @contextmanager
    def request_scope(self) -> Iterator[None]:
        """Run every ``session()`` of the block on one pooled connection, checked out on first use.

        An authenticated request reads the token, then runs its route's transactions: one checkout (and
        on PostgreSQL one pre-ping round trip) instead of one per transaction (issue 14's load). Each
        ``session()`` stays its own transaction. Nested scopes share the outer one.
        """
        if self._scope.get() is not None:
            yield
            return
        holder = _RequestConnection(self.engine)
        reset = self._scope.set(holder)
        try:
            yield
        finally:
            self._scope.reset(reset)
            holder.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: commits when the block ends normally, rolls back on an exception."""
        holder = self._scope.get()
        connection = holder.get() if holder is not None else None
        if connection is None or connection.in_transaction():
            # Outside a request scope, or a session opened inside another one's block: its own
            # connection and transaction, as it always had.
            with self._sessions.begin() as session:
                yield session
            return
        with self._sessions(bind=connection) as session, session.begin():
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reads (and a write that stands alone): on PostgreSQL each statement commits
        on its own (autocommit), so a lookup is one round trip instead of BEGIN, SELECT, COMMIT.

        Nothing in the block is atomic with anything else; use ``session()`` when it must be.
        Elsewhere it is ``session()`` (SQLite opens no transaction for a read anyway).
        """
        connection = self._autocommit_connection()
        if connection is None:
            with self.session() as session:
                yield session
            return
        with self._autocommit(connection), self._sessions(bind=connection) as session, session.begin():
            yield session

    def read_first(self, statement: Executable, parameters: Mapping[str, Any]) -> Row[Any] | None:
        """The first row of one read, as ``read_session`` runs it but without an ORM session.

        The token check of every authenticated request reads this way: a Session around one Core
        select was a third of its cost (issue 14's load).
        """
        connection = self._autocommit_connection()
        if connection is None:
            with self.session() as session:
                return session.execute(statement, parameters).first()
        with self._autocommit(connection):
            row = connection.execute(statement, parameters).first()
            connection.commit()  # ends SQLAlchemy's own transaction object; the driver sends nothing
        return row

    def _autocommit_connection(self) -> Connection | None:
        """The request scope's connection if reads on it may autocommit (PostgreSQL, no open transaction)."""
        holder = self._scope.get()
        if self.dialect_name != "postgresql" or holder is None:
            return None
        connection = holder.get()
        return None if connection.in_transaction() else connection

    @staticmethod
    @contextmanager
    def _autocommit(connection: Connection) -> Iterator[None]:
        """The driver's autocommit on for the block (psycopg and psycopg2 name it alike).

        What the dialect's ``isolation_level="AUTOCOMMIT"`` sets, set directly: SQLAlchemy's
        execution_options path to it and back cost about as much as the read itself.
        """
        driver_connection: Any = connection.connection.dbapi_connection
        driver_connection.autocommit = True
        try:
            yield
        finally:
            if not connection.invalidated:
                driver_connection.autocommit = False

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A transaction that writes: as ``session()``, queued behind this process's other SQLite writers."""
        if self._write_lock is None:
            with self.session() as session:
                yield session
            return
        with self._write_lock, self.session() as session:
            yield session

    def _alembic_config(self, connection: Connection) -> AlembicConfig:
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        return config

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration (a no-op when already there).

        Serialised between processes (PostgreSQL: an advisory lock; SQLite: a lock file beside the
        database), so nodes or gunicorn workers starting together never run the same upgrade twice.
        """
        with self._migration_lock():
            before = self.current_revision()
            with self.engine.begin() as connection:
                command.upgrade(self._alembic_config(connection), "head")
            after = self.current_revision()
        if before != after:
            logger.info("database schema upgraded from %s to %s", before, after)

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """Hold the one migration lock of this database while the block runs."""
        if self.dialect_name == "postgresql":
            with self.engine.connect() as connection:
                # Session-level: held across the upgrade's own transactions, freed if this process dies.
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()
                try:
                    yield
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                    connection.commit()
            return
        database_file = make_url(self.url).database
        if self.dialect_name != "sqlite" or not database_file or database_file == ":memory:":
            yield
            return
        try:
            import fcntl
        except ImportError:  # Windows: one waitress process, nothing to serialise with
            yield
            return
        # A file of its own: closing any descriptor of vinova.db itself would drop SQLite's own locks.
        descriptor = os.open(f"{database_file}{MIGRATION_LOCK_SUFFIX}", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # closing releases the flock

    def ping(self) -> None:
        """Run ``SELECT 1``; TransientError when the database cannot be reached."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise TransientError(f"the database is unreachable: {type(exc).__name__}") from exc

    def current_revision(self) -> str | None:
        """The Alembic revision the database is at (None for an empty database)."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
