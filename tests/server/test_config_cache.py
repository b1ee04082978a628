"""The effective-config cache of /get-config: one number read per poll, never a stale config; and a poll
checks its token and reads its config on one pooled connection, each transaction still its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select, text

from server.db import config_data
from server.db.config_data import EffectiveConfigCache
from server.db.database import Database
from server.db.models import User

AT = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    db.migrate()
    yield db
    db.dispose()


def add_user(database: Database, username: str) -> int:
    with database.session() as session:
        user = User(username=username, email=f"{username}@example.com", password_hash="x", is_admin=False,
                    is_enabled=True, created_at=AT)
        session.add(user)
        session.flush()
        return user.id


class StatementCount:
    """Counts the statements run on an engine while it is attached."""

    def __init__(self, database: Database) -> None:
        self.statements: list[str] = []
        event.listen(database.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)


def test_a_repeated_poll_reads_only_the_version_and_a_change_is_served_at_once(database: Database) -> None:
    ann, bob = add_user(database, "ann"), add_user(database, "bob")
    cache = EffectiveConfigCache()
    with database.session() as session:
        first, version = cache.lookup(session, ann)
    count = StatementCount(database)
    with database.session() as session:
        again, same_version = cache.lookup(session, ann)
    assert (again, same_version) == (first, version)
    assert len(count.statements) == 1 and "max" in count.statements[0].lower()

    with database.session() as session:
        user = session.get(User, ann)
        assert user is not None
        config_data.update_user_overrides(session, "root", user, {"blur_screenshots": True}, AT)
    with database.session() as session:
        changed, newer = cache.lookup(session, ann)
        untouched, _ = cache.lookup(session, bob)
    assert newer > version and changed["blur_screenshots"] is True and untouched["blur_screenshots"] is False

    with database.session() as session:
        config_data.update_global_config(session, "root", {"jpeg_quality": 40}, AT)
    with database.session() as session:
        assert cache.lookup(session, bob)[0]["jpeg_quality"] == 40
        assert cache.lookup(session, ann)[0] == config_data.effective_config(session, ann)


def test_a_cached_config_is_a_copy_the_caller_may_change(database: Database) -> None:
    ann = add_user(database, "ann")
    cache = EffectiveConfigCache()
    with database.session() as session:
        config, _ = cache.lookup(session, ann)
        config["jpeg_quality"] = 1
        assert cache.lookup(session, ann)[0]["jpeg_quality"] != 1


# --------------------------------------------------------------------------- one connection per request
@pytest.fixture
def server_setup() -> Any:
    from server_support import ServerSetup

    return ServerSetup(users={"ann": False}, signed_in=True, start=AT)


def test_a_repeated_config_poll_is_one_statement_the_token_check_with_the_config_version(server: Any) -> None:
    engine = server.context.database.engine
    client = server.app.test_client()
    first = client.get("/get-config", headers=server.headers("ann"))
    assert first.status_code == 200
    checkouts: list[object] = []
    event.listen(engine.pool, "checkout", lambda *arguments: checkouts.append(arguments))
    count = StatementCount(server.context.database)
    polled = {**server.headers("ann"), "If-None-Match": first.headers["ETag"]}
    again = client.get("/get-config", headers=polled)
    assert again.status_code == 304
    assert len(checkouts) == 1
    assert len(count.statements) == 1  # the token and the config version; the config from the cache
    assert "auth_tokens" in count.statements[0] and "config_audit" in count.statements[0]


def test_postgresql_reads_in_a_request_scope_autocommit_and_sessions_after_them_are_transactions(
    database: Database,
) -> None:
    if database.dialect_name != "postgresql":
        pytest.skip("autocommit reads are PostgreSQL's: SQLite opens no transaction for a read anyway")
    checks = iter(range(100))

    def alone() -> Any:
        """True only for a statement that is its own transaction (after a BEGIN it starts later). A new
        text each time: psycopg prepares a text run five times, and a prepared one times differently."""
        return text(f"SELECT statement_timestamp() = transaction_timestamp() AS check_{next(checks)}")

    with database.request_scope():
        first = database.read_first(alone(), {})
        with database.read_session() as session:
            in_read_session = [session.scalar(alone()), session.scalar(alone())]
        with database.session() as session:
            in_session = [session.scalar(alone()), session.scalar(alone())]
        again = database.read_first(alone(), {})
    assert first is not None and first[0] is True
    assert in_read_session == [True, True]
    assert in_session == [False, False]  # a BEGIN came first: the driver is out of autocommit again
    assert again is not None and again[0] is True


def test_in_a_request_scope_each_session_is_still_its_own_transaction(database: Database) -> None:
    with database.request_scope():
        with database.read_session() as session:
            assert config_data.config_version(session) == 0
        with pytest.raises(RuntimeError), database.session() as session:
            session.add(User(username="gone", email="gone@example.com", password_hash="x", is_admin=False,
                             is_enabled=True, created_at=AT))
            session.flush()
            raise RuntimeError("the route failed")
        with database.write_session() as session:
            session.add(User(username="kept", email="kept@example.com", password_hash="x", is_admin=False,
                             is_enabled=True, created_at=AT))
        with database.session() as outer:  # a session opened inside another's block gets its own
            outer.add(User(username="outer", email="outer@example.com", password_hash="x", is_admin=False,
                           is_enabled=True, created_at=AT))
            outer.flush()
            with database.read_session() as inner:
                assert inner.scalar(select(User.id).where(User.username == "outer")) is None
    with database.session() as session:
        names = set(session.scalars(select(User.username)))
    assert names == {"kept", "outer"}
