"""The database layer on SQLite and PostgreSQL: migrations, UTC timestamps, upserts, constraints."""

from __future__ import annotations

import ast
import random
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import delete, insert, inspect, select
from sqlalchemy.exc import IntegrityError, StatementError

from contract.activity import COUNT_FIELDS, STATES, MinuteSample, add_counts
from server.db import activity_data, config_data, models, rollups
from server.db.database import MIGRATIONS_DIR, Database
from server.db.models import ActivityRollup, ActivitySample, Base, Screenshot, User

AT = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def add_user(db: Database, username: str = "ann") -> int:
    # Only the first revision's columns: tests also add users at older revisions, before later columns.
    with db.session() as session:
        return int(session.execute(
            insert(User).values(username=username, email=f"{username}@example.com", password_hash="x",
                                is_admin=False, is_enabled=True, created_at=AT).returning(User.id)
        ).scalar_one())


def head_revision() -> str:
    """The newest migration shipped with this code."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None
    return head


def record(minute: datetime, keys: int = 1) -> MinuteSample:
    return MinuteSample(minute, 30, keys, 2, 3, 400, "tracking", "UTC", 0)


def test_upgrading_an_empty_database_creates_every_table(database: Database) -> None:
    assert database.current_revision() is None
    database.migrate()
    assert database.current_revision() == head_revision()
    tables = set(inspect(database.engine).get_table_names())
    assert {
        "users", "login_challenges", "auth_tokens", "login_failures", "config_global",
        "config_user_overrides", "config_audit", "activity_samples", "activity_rollups", "screenshots",
        "alembic_version",
    } <= tables


def test_the_migrations_carry_their_own_tables_and_never_import_project_code() -> None:
    sources = sorted(MIGRATIONS_DIR.glob("*.py")) + sorted((MIGRATIONS_DIR / "versions").glob("*.py"))
    imported = set()
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    assert len(sources) >= 4
    assert imported <= {"__future__", "collections", "datetime", "logging", "os", "alembic", "sqlalchemy"}


def test_migrating_twice_is_a_no_op_and_keeps_the_data(database: Database) -> None:
    database.migrate()
    add_user(database)
    revision = database.current_revision()
    database.migrate()
    assert database.current_revision() == revision
    with database.session() as session:
        assert session.scalar(select(User.username)) == "ann"


def test_migrations_started_together_run_one_after_the_other_and_once(database_url: str) -> None:
    """Nodes (or gunicorn workers) starting at once: each migrate() waits for the migration lock."""
    import threading

    databases = [Database(database_url) for _ in range(6)]
    barrier = threading.Barrier(len(databases))
    failures: list[BaseException] = []

    def start(database: Database) -> None:
        barrier.wait()
        try:
            database.migrate()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(database,)) for database in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert failures == []
        assert {database.current_revision() for database in databases} == {head_revision()}
        with databases[0].engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
    finally:
        for database in databases:
            database.dispose()


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
        session.add(models.AuthToken(user_id=user_id, token_hash="a" * 64, created_at=AT.astimezone(india),
                                    expires_at=AT + timedelta(days=7)))
    with database.session() as session:
        token = session.scalar(select(models.AuthToken))
        assert token is not None
        assert token.created_at == AT and token.created_at.utcoffset() == timedelta(0)
        # Comparisons happen in UTC in the database too.
        found = session.scalar(select(models.AuthToken.id).where(models.AuthToken.expires_at > AT))
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
        activity_data.upsert_activity(session, ann, first_batch, AT)
    with database.session() as session:
        activity_data.upsert_activity(session, ann, [record(minute, keys=9)], AT + timedelta(seconds=5))
        activity_data.upsert_activity(session, bob, [record(minute, keys=7)], AT)
    with database.session() as session:
        rows = activity_data.activity_between(session, None, AT - timedelta(hours=1), AT)
    assert [(row.username, row.sample.minute_start, row.sample.keys) for row in rows] == [
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
        assert config_data.config_version(session) == 0
        assert config_data.update_global_config(session, "root", {"jpeg_quality": 50}, AT) == 1
        assert config_data.update_global_config(session, "root", {"jpeg_quality": 50}, AT) == 0  # no change
        user = session.get(User, user_id)
        assert user is not None
        config_data.update_user_overrides(session, "root", user, {"blur_screenshots": True}, AT)
        audit_ids = [entry.id for entry in config_data.audit_entries(session)]
        assert config_data.config_version(session) == max(audit_ids)
        assert config_data.effective_config(session, user_id)["blur_screenshots"] is True
        assert config_data.effective_config(session, user_id)["jpeg_quality"] == 50


# --------------------------------------------------------------------------- 15-minute rollup
ROLLUP_FIELDS = (
    "sample_minutes", "tracking_minutes", "idle_minutes", "paused_minutes", "suspended_minutes",
    "active_seconds", "keys", "clicks", "scrolls", "mouse_px",
)
Sums = dict[tuple[int, datetime], tuple[int | None, ...]]


def random_minutes(
    rng: random.Random, start: datetime, count: int, span_minutes: int, uncounted_share: float = 0.0
) -> list[MinuteSample]:
    """``count`` distinct minutes scattered over ``span_minutes`` from ``start``, random states and counts.

    About ``uncounted_share`` of them come from a device that cannot count input (counts None).
    """
    chosen = sorted(rng.sample(range(span_minutes), count))
    records = []
    for offset in chosen:
        state = rng.choice(STATES)
        counts = {
            "keys": rng.randint(0, 500), "clicks": rng.randint(0, 50), "scrolls": rng.randint(0, 20),
            "mouse_px": rng.randint(0, 90_000),
        }
        uncounted = rng.random() < uncounted_share
        records.append(MinuteSample(
            minute_start=start + timedelta(minutes=offset), active_seconds=rng.randint(0, 60), state=state,
            timezone="Asia/Kathmandu", utc_offset_minutes=345,
            **{name: None if uncounted else value for name, value in counts.items()},
        ))
    return records


def expected_sums(records_by_user: Mapping[int, Sequence[MinuteSample]]) -> Sums:
    """The rollup worked out by hand: per user and 15-minute UTC bucket (active seconds of tracking only;
    a count is None only when no minute of the bucket was counted)."""
    buckets: dict[tuple[int, datetime], list[MinuteSample]] = {}
    for user_id, records in records_by_user.items():
        for item in records:
            minute = item.minute_start
            bucket = minute.replace(minute=minute.minute - minute.minute % 15)
            buckets.setdefault((user_id, bucket), []).append(item)
    sums: Sums = {}
    for key, items in buckets.items():
        tracking = [item for item in items if item.state == "tracking"]
        sums[key] = (
            len(items), len(tracking), *(sum(item.state == state for item in items)
                                         for state in ("idle", "paused", "suspended")),
            sum(item.active_seconds for item in tracking),
            *(add_counts(getattr(item, name) for item in items) for name in COUNT_FIELDS),
        )
    return sums


def stored_rollup(db: Database) -> Sums:
    with db.session() as session:
        rows = session.scalars(select(ActivityRollup))
        return {
            (row.user_id, row.bucket_start): tuple(
                None if getattr(row, name) is None else int(getattr(row, name)) for name in ROLLUP_FIELDS
            )
            for row in rows
        }


def latest_per_minute(*batches: Sequence[MinuteSample]) -> list[MinuteSample]:
    latest: dict[datetime, MinuteSample] = {}
    for batch in batches:
        for item in batch:
            latest[item.minute_start] = item
    return list(latest.values())


def test_the_upsert_keeps_the_rollup_equal_to_the_minutes_per_15_minute_bucket(database: Database) -> None:
    database.migrate()
    ann, bob = add_user(database, "ann"), add_user(database, "bob")
    rng = random.Random(6)
    start = datetime(2026, 11, 20, 23, 7, tzinfo=UTC)  # not on a bucket edge; crosses midnight UTC
    cid = add_user(database, "cid")
    # sparse, with some minutes uncounted: many separate runs of buckets, mixed buckets among them
    ann_minutes = random_minutes(rng, start, 300, 600, uncounted_share=0.3)
    bob_minutes = random_minutes(rng, start, 90, 90)  # dense: one run
    cid_minutes = random_minutes(rng, start, 40, 60, uncounted_share=1.0)  # a device that counts nothing
    with database.session() as session:
        activity_data.upsert_activity(session, ann, ann_minutes[:150], AT)
        activity_data.upsert_activity(session, bob, bob_minutes, AT)
        activity_data.upsert_activity(session, cid, cid_minutes, AT)
    with database.session() as session:
        activity_data.upsert_activity(session, ann, ann_minutes[150:], AT)

    rollup = stored_rollup(database)

    assert rollup == expected_sums({ann: ann_minutes, bob: bob_minutes, cid: cid_minutes})
    assert all(row[6:] == (None,) * 4 for (user_id, _), row in rollup.items() if user_id == cid)
    mixed_buckets = {  # the case under test: buckets with counted and uncounted minutes of ann's
        item.minute_start.replace(minute=item.minute_start.minute // 15 * 15)
        for item in ann_minutes if item.keys is None
    } & {
        item.minute_start.replace(minute=item.minute_start.minute // 15 * 15)
        for item in ann_minutes if item.keys is not None
    }
    assert mixed_buckets
    assert all(rollup[(ann, bucket)][6] is not None for bucket in mixed_buckets)
    assert all(bucket.minute % 15 == 0 and bucket.tzinfo is not None for _, bucket in rollup)
    assert sum(row[0] for row in rollup.values() if row[0] is not None) == 390 + 40


def test_a_resent_minute_replaces_its_share_of_the_bucket_and_never_counts_twice(database: Database) -> None:
    database.migrate()
    ann = add_user(database)
    rng = random.Random(11)
    start = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    first = random_minutes(rng, start, 45, 45)
    # overlaps two buckets; an uncounted resend takes its minutes' counts out of the sums
    resent = random_minutes(rng, start + timedelta(minutes=10), 20, 20, uncounted_share=0.5)
    with database.session() as session:
        activity_data.upsert_activity(session, ann, first, AT)
    for _ in range(2):  # the same batch twice, as a retrying agent does
        with database.session() as session:
            activity_data.upsert_activity(session, ann, resent, AT + timedelta(minutes=1))

    rollup = stored_rollup(database)

    assert rollup == expected_sums({ann: latest_per_minute(first, resent)})
    assert [row[0] for _, row in sorted(rollup.items())] == [15, 15, 15]


def test_a_bucket_holds_counts_past_two_to_the_31(database: Database) -> None:
    database.migrate()
    ann = add_user(database)
    most = 2**31 - 1
    minute = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    heavy = [MinuteSample(minute + timedelta(minutes=n), 60, most, most, most, most, "tracking", "UTC", 0)
             for n in range(3)]
    with database.session() as session:
        activity_data.upsert_activity(session, ann, heavy, AT)
    ((_, row),) = stored_rollup(database).items()
    assert row[6:] == (3 * most,) * 4


def test_rebuilding_the_rollup_gives_what_the_upserts_kept(database: Database) -> None:
    database.migrate()
    ann, bob = add_user(database, "ann"), add_user(database, "bob")
    rng = random.Random(3)
    start = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
    with database.session() as session:
        activity_data.upsert_activity(session, ann, random_minutes(rng, start, 200, 400, 0.3), AT)
        activity_data.upsert_activity(session, bob, random_minutes(rng, start, 50, 400, 1.0), AT)
    kept = stored_rollup(database)
    with database.session() as session:
        session.execute(delete(ActivityRollup))
        assert rollups.rebuild_rollup(session, bob) == len([key for key in kept if key[0] == bob])
    assert {key for key in stored_rollup(database)} == {key for key in kept if key[0] == bob}
    with database.session() as session:
        assert rollups.rebuild_rollup(session) == len(kept)
    assert stored_rollup(database) == kept


def test_the_rollup_migration_backfills_minutes_stored_before_it(database: Database) -> None:
    with database.engine.begin() as connection:
        command.upgrade(database._alembic_config(connection), "0002")
    assert "activity_rollups" not in inspect(database.engine).get_table_names()
    ann, bob = add_user(database, "ann"), add_user(database, "bob")
    rng = random.Random(5)
    start = datetime(2026, 11, 23, 12, 3, tzinfo=UTC)
    old_minutes = {ann: random_minutes(rng, start, 120, 240), bob: random_minutes(rng, start, 30, 30)}
    with database.engine.begin() as connection:  # as the 0002 server stored them: minutes only
        connection.execute(insert(ActivitySample), [
            {"user_id": user_id, **item.to_json(), "minute_start": item.minute_start, "received_at": AT}
            for user_id, records in old_minutes.items() for item in records
        ])

    database.migrate()

    assert database.current_revision() == head_revision()
    assert stored_rollup(database) == expected_sums(old_minutes)
