"""The database layer on SQLite and PostgreSQL: migrations, UTC timestamps, upserts, constraints."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError, StatementError

import store
from store import ActivityRecord, Base, Database, Screenshot, User

AT = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def add_user(db: Database, username: str = "ann") -> int:
    with db.session() as session:
        user = User(username=username, email=f"{username}@example.com", password_hash="x", is_admin=False,
                    is_enabled=True, created_at=AT)
        session.add(user)
        session.flush()
        return user.id


def record(minute: datetime, keys: int = 1) -> ActivityRecord:
    return ActivityRecord(minute, 30, keys, 2, 3, 400, "tracking", "UTC", 0)


def test_upgrading_an_empty_database_creates_every_table(database: Database) -> None:
    assert database.current_revision() is None
    database.migrate()
    assert database.current_revision() == database.head_revision()
    tables = set(inspect(database.engine).get_table_names())
    assert {
        "users", "login_challenges", "auth_tokens", "login_failures", "config_global",
        "config_user_overrides", "config_audit", "activity_samples", "screenshots", "alembic_version",
    } <= tables


def test_migrating_twice_is_a_no_op_and_keeps_the_data(database: Database) -> None:
    database.migrate()
    add_user(database)
    revision = database.current_revision()
    database.migrate()
    assert database.current_revision() == revision
    with database.session() as session:
        assert session.scalar(select(User.username)) == "ann"


def test_the_models_match_the_migrations(database: Database) -> None:
    database.migrate()
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_timestamps_come_back_tz_aware_utc_whatever_offset_went_in(database: Database) -> None:
    database.migrate()
    user_id = add_user(database)
    india = timezone(timedelta(hours=5, minutes=30))
    with database.session() as session:
        session.add(store.AuthToken(user_id=user_id, token_hash="a" * 64, created_at=AT.astimezone(india),
                                    expires_at=AT + timedelta(days=7)))
    with database.session() as session:
        token = session.scalar(select(store.AuthToken))
        assert token is not None
        assert token.created_at == AT and token.created_at.utcoffset() == timedelta(0)
        # Comparisons happen in UTC in the database too.
        found = session.scalar(select(store.AuthToken.id).where(store.AuthToken.expires_at > AT))
        assert found == token.id


def test_a_naive_datetime_is_refused(database: Database) -> None:
    database.migrate()
    with pytest.raises(StatementError), database.session() as session:
        session.add(User(username="naive", email="n@example.com", password_hash="x", is_admin=False,
                         is_enabled=True, created_at=datetime(2026, 1, 1)))
        session.flush()


def test_activity_upsert_replaces_a_minute_and_keeps_users_apart(database: Database) -> None:
    database.migrate()
    ann, bob = add_user(database, "ann"), add_user(database, "bob")
    minute = AT - timedelta(minutes=1)
    with database.session() as session:
        first_batch = [record(minute, keys=5), record(minute - timedelta(minutes=1))]
        store.upsert_activity(session, ann, first_batch, AT)
    with database.session() as session:
        store.upsert_activity(session, ann, [record(minute, keys=9)], AT + timedelta(seconds=5))
        store.upsert_activity(session, bob, [record(minute, keys=7)], AT)
    with database.session() as session:
        rows = store.activity_between(session, None, AT - timedelta(hours=1), AT)
    assert [(name, r.minute_start, r.keys) for name, r in rows] == [
        ("ann", minute - timedelta(minutes=1), 1), ("ann", minute, 9), ("bob", minute, 7),
    ]


def test_a_screenshot_key_is_unique(database: Database) -> None:
    database.migrate()
    user_id = add_user(database)
    values = {"user_id": user_id, "key": "ann/2026/11/25/180000Z-0123456789abcdef.jpg", "taken_at": AT,
              "timezone": "UTC", "blurred": False, "width": 1920, "height": 1080, "size_bytes": 12345,
              "sha256": "0" * 64, "uploaded_at": AT}
    with database.session() as session:
        session.add(Screenshot(**values))
    with pytest.raises(IntegrityError), database.session() as session:
        session.add(Screenshot(**values))
        session.flush()


def test_the_config_version_is_the_newest_audit_entry(database: Database) -> None:
    database.migrate()
    user_id = add_user(database)
    with database.session() as session:
        assert store.config_version(session) == 0
        assert store.update_global_config(session, "root", {"jpeg_quality": 50}, AT) == 1
        assert store.update_global_config(session, "root", {"jpeg_quality": 50}, AT) == 0  # no change
        user = session.get(User, user_id)
        assert user is not None
        store.update_user_overrides(session, "root", user, {"blur_screenshots": True}, AT)
        assert store.config_version(session) == max(entry.id for entry in store.audit_entries(session))
        assert store.effective_config(session, user_id)["blur_screenshots"] is True
        assert store.effective_config(session, user_id)["jpeg_quality"] == 50
