"""The server's database: models, engine and sessions, Alembic migrations, config and activity data.

Timestamps are stored as UTC and always come back tz-aware (SQLite drops tzinfo, see
:class:`UtcDateTime`). The schema is created or upgraded by Alembic on start, so an upgrade
never loses data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytz
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from contract.config_schema import DEFAULTS as CONFIG_DEFAULTS
from contract.config_schema import SCHEMA_BY_NAME
from contract.errors import ConfigError

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


# --------------------------------------------------------------------------- types and models
class UtcDateTime(TypeDecorator[datetime]):
    """A datetime stored as UTC and returned tz-aware; naive input is a programming error."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass a tz-aware UTC datetime")
        value = value.astimezone(UTC)
        # SQLite keeps text: store naive UTC so text order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (migrations refer to them)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """An account: signs in with password + emailed code."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LoginChallenge(Base):
    """A pending email-code sign-in: the code is kept only as an HMAC."""

    __tablename__ = "login_challenges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_sent_at: Mapped[datetime] = mapped_column(UtcDateTime())
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    locked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class AuthToken(Base):
    """A bearer token, stored as its SHA-256; revocable."""

    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class LoginFailure(Base):
    """One failed password attempt on an account (for throttling)."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_user_time", "user_id", "failed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    failed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class GlobalConfigValue(Base):
    """A global default set by an admin (keys not stored fall back to the schema default)."""

    __tablename__ = "config_global"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class UserConfigOverride(Base):
    """One user's override of one config key."""

    __tablename__ = "config_user_overrides"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class ConfigAudit(Base):
    """Who changed which config key when, old → new; the newest id is the config version."""

    __tablename__ = "config_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(80))
    target_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    key: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)
    new_value: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)


class ActivitySample(Base):
    """One user's activity in one UTC minute; a resent minute replaces the row."""

    __tablename__ = "activity_samples"
    __table_args__ = (UniqueConstraint("user_id", "minute_start", name="uq_activity_samples_user_minute"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    minute_start: Mapped[datetime] = mapped_column(UtcDateTime())
    active_seconds: Mapped[int] = mapped_column(Integer)
    keys: Mapped[int] = mapped_column(Integer)
    clicks: Mapped[int] = mapped_column(Integer)
    scrolls: Mapped[int] = mapped_column(Integer)
    mouse_px: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64))
    utc_offset_minutes: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ActivityRollup(Base):
    """Sums over one user's minutes in one 15-minute UTC bucket (issue 6: range reports read these).

    Kept in step with ``activity_samples`` by :func:`upsert_activity` in the same transaction;
    :func:`rebuild_rollup` recomputes it from the minutes. ``active_seconds`` counts tracking
    minutes only, as the reports do.
    """

    __tablename__ = "activity_rollups"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    sample_minutes: Mapped[int] = mapped_column(Integer)
    tracking_minutes: Mapped[int] = mapped_column(Integer)
    idle_minutes: Mapped[int] = mapped_column(Integer)
    paused_minutes: Mapped[int] = mapped_column(Integer)
    suspended_minutes: Mapped[int] = mapped_column(Integer)
    active_seconds: Mapped[int] = mapped_column(Integer)
    # Fifteen minutes of counts may pass 2**31.
    keys: Mapped[int] = mapped_column(BigInteger)
    clicks: Mapped[int] = mapped_column(BigInteger)
    scrolls: Mapped[int] = mapped_column(BigInteger)
    mouse_px: Mapped[int] = mapped_column(BigInteger)


class Screenshot(Base):
    """Metadata of one uploaded screenshot (the JPEG itself lives in object storage)."""

    __tablename__ = "screenshots"
    __table_args__ = (Index("ix_screenshots_user_taken", "user_id", "taken_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(512), unique=True)
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime())
    timezone: Mapped[str] = mapped_column(String(64))
    blurred: Mapped[bool] = mapped_column(Boolean)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AgentReport(Base):
    """The newest upload backlog an agent reported with its activity (one row per user)."""

    __tablename__ = "agent_reports"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    uploads_waiting: Mapped[int] = mapped_column(Integer)
    kept_aside: Mapped[int] = mapped_column(Integer)
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ScreenshotDeletion(Base):
    """Audit entry: an admin deleted a screenshot (object and record)."""

    __tablename__ = "screenshot_deletions"
    __table_args__ = (Index("ix_screenshot_deletions_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(512))
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime())


# --------------------------------------------------------------------------- engine, sessions, migrations
def _enable_sqlite_foreign_keys(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    """An engine plus a session factory; ``session()`` is one transaction."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.url = url
        self.dialect_name = parsed.get_backend_name()
        connect_args: dict[str, Any] = {}
        if self.dialect_name == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            connect_args = {"timeout": 30, "check_same_thread": False}
        self.engine: Engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        if self.dialect_name == "sqlite":
            event.listen(self.engine, "connect", _enable_sqlite_foreign_keys)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: commits when the block ends normally, rolls back on an exception."""
        with self._sessions.begin() as session:
            yield session

    def _alembic_config(self, connection: Connection) -> AlembicConfig:
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        return config

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration (a no-op when already there)."""
        before = self.current_revision()
        with self.engine.begin() as connection:
            command.upgrade(self._alembic_config(connection), "head")
        after = self.current_revision()
        if before != after:
            logger.info("database schema upgraded from %s to %s", before, after)

    def current_revision(self) -> str | None:
        """The Alembic revision the database is at (None for an empty database)."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str:
        """The newest migration shipped with this code."""
        with self.engine.connect() as connection:
            head = ScriptDirectory.from_config(self._alembic_config(connection)).get_current_head()
        if head is None:
            raise RuntimeError("no migrations found")
        return head

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


# --------------------------------------------------------------------------- config data
@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One config change as shown in the audit log."""

    id: int
    at: datetime
    actor: str
    scope: str
    key: str
    old: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "scope": self.scope,
            "key": self.key,
            "old": self.old,
            "new": self.new,
        }


def global_config(session: Session) -> dict[str, Any]:
    """The global defaults: schema defaults overlaid with what admins stored, in schema order."""
    stored = {row.key: row.value for row in session.scalars(select(GlobalConfigValue))}
    return {key: stored.get(key, default) for key, default in CONFIG_DEFAULTS.items()}


def user_overrides(session: Session, user_id: int) -> dict[str, Any]:
    """One user's overrides (only keys the schema knows), in schema order."""
    rows = session.scalars(select(UserConfigOverride).where(UserConfigOverride.user_id == user_id))
    stored = {row.key: row.value for row in rows}
    return {key: stored[key] for key in CONFIG_DEFAULTS if key in stored}


def effective_config(session: Session, user_id: int) -> dict[str, Any]:
    """What applies to a user: global defaults overlaid with the user's overrides."""
    return {**global_config(session), **user_overrides(session, user_id)}


def config_version(session: Session) -> int:
    """A number that grows with every config change: the newest audit id (0 before any edit)."""
    return int(session.scalar(select(func.max(ConfigAudit.id))) or 0)


def _audit(
    session: Session, actor: str, scope: str, target_user_id: int | None, key: str, old: Any, new: Any,
    at: datetime,
) -> None:
    session.add(
        ConfigAudit(
            at=at, actor=actor, scope=scope, target_user_id=target_user_id, key=key,
            old_value=old, new_value=new,
        )
    )


def update_global_config(session: Session, actor: str, changes: Mapping[str, Any], at: datetime) -> int:
    """Store validated global changes, audit each real change; return how many keys changed."""
    current = global_config(session)
    changed = 0
    for key, value in changes.items():
        if key not in SCHEMA_BY_NAME:
            raise ConfigError({key: "unknown setting"})
        if current[key] == value and type(current[key]) is type(value):
            continue
        row = session.get(GlobalConfigValue, key)
        if row is None:
            session.add(GlobalConfigValue(key=key, value=value))
        else:
            row.value = value
        _audit(session, actor, "global", None, key, current[key], value, at)
        changed += 1
    session.flush()
    return changed


def update_user_overrides(
    session: Session, actor: str, user: User, changes: Mapping[str, Any], at: datetime
) -> int:
    """Store validated override changes (None removes one), audit each; return how many changed."""
    current = user_overrides(session, user.id)
    scope = f"user:{user.username}"
    changed = 0
    for key, value in changes.items():
        if key not in SCHEMA_BY_NAME:
            raise ConfigError({key: "unknown setting"})
        old = current.get(key)
        if value is None:
            if key not in current:
                continue
            session.execute(
                delete(UserConfigOverride).where(
                    UserConfigOverride.user_id == user.id, UserConfigOverride.key == key
                )
            )
        else:
            if key in current and old == value and type(old) is type(value):
                continue
            row = session.get(UserConfigOverride, (user.id, key))
            if row is None:
                session.add(UserConfigOverride(user_id=user.id, key=key, value=value))
            else:
                row.value = value
        _audit(session, actor, scope, user.id, key, old, value, at)
        changed += 1
    session.flush()
    return changed


def audit_entries(session: Session, limit: int = 500) -> list[AuditEntry]:
    """The newest config changes first."""
    rows = session.scalars(select(ConfigAudit).order_by(ConfigAudit.id.desc()).limit(limit))
    return [
        AuditEntry(row.id, row.at, row.actor, row.scope, row.key, row.old_value, row.new_value)
        for row in rows
    ]


def find_user(session: Session, username: str) -> User | None:
    """The account with this username, or None."""
    return session.scalar(select(User).where(User.username == username))


# --------------------------------------------------------------------------- activity samples
ACTIVITY_STATES = ("tracking", "idle", "paused", "suspended")
MAX_ACTIVITY_BATCH = 1000
ACTIVITY_MAX_AGE = timedelta(days=30)
_MAX_COUNT = 2**31 - 1
_COUNT_FIELDS = ("keys", "clicks", "scrolls", "mouse_px")


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    """One validated minute of activity, as the agent reports it."""

    minute_start: datetime
    active_seconds: int
    keys: int
    clicks: int
    scrolls: int
    mouse_px: int
    state: str
    timezone: str
    utc_offset_minutes: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (minute_start as ISO 8601 UTC)."""
        return {
            "minute_start": self.minute_start.isoformat(),
            "active_seconds": self.active_seconds,
            "keys": self.keys,
            "clicks": self.clicks,
            "scrolls": self.scrolls,
            "mouse_px": self.mouse_px,
            "state": self.state,
            "timezone": self.timezone,
            "utc_offset_minutes": self.utc_offset_minutes,
        }


def parse_utc_datetime(text: Any) -> datetime | None:
    """An ISO 8601 datetime with an offset (or ``Z``) as tz-aware UTC; None when unparseable or naive."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


def _int_error(value: Any, minimum: int, maximum: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be a whole number"
    if not minimum <= value <= maximum:
        return f"must be between {minimum} and {maximum}"
    return None


def _parse_sample(raw: Any, now: datetime, prefix: str, errors: dict[str, str]) -> ActivityRecord | None:
    if not isinstance(raw, Mapping):
        errors[prefix] = "must be an object"
        return None
    before = len(errors)
    allowed = {"minute_start", "active_seconds", "state", "timezone", "utc_offset_minutes", *_COUNT_FIELDS}
    for key in raw:
        if key not in allowed:
            errors[f"{prefix}.{key}"] = "unknown field"
    minute_start = parse_utc_datetime(raw.get("minute_start"))
    if minute_start is None:
        errors[f"{prefix}.minute_start"] = "must be an ISO 8601 datetime with a UTC offset"
    elif minute_start.second or minute_start.microsecond:
        errors[f"{prefix}.minute_start"] = "must be the start of a whole minute"
    elif minute_start > now:
        errors[f"{prefix}.minute_start"] = "is in the future"
    elif minute_start < now - ACTIVITY_MAX_AGE:
        errors[f"{prefix}.minute_start"] = "is more than 30 days old"
    checks = {"active_seconds": (0, 60), "utc_offset_minutes": (-16 * 60, 16 * 60)}
    checks.update({name: (0, _MAX_COUNT) for name in _COUNT_FIELDS})
    for name, (minimum, maximum) in checks.items():
        if name not in raw:
            errors[f"{prefix}.{name}"] = "is missing"
            continue
        message = _int_error(raw[name], minimum, maximum)
        if message is not None:
            errors[f"{prefix}.{name}"] = message
    if raw.get("state") not in ACTIVITY_STATES:
        errors[f"{prefix}.state"] = "must be one of " + ", ".join(ACTIVITY_STATES)
    zone = raw.get("timezone")
    if not isinstance(zone, str) or zone not in pytz.all_timezones_set:
        errors[f"{prefix}.timezone"] = "must be an IANA time zone name"
    if len(errors) != before or minute_start is None:
        return None
    return ActivityRecord(
        minute_start=minute_start,
        active_seconds=raw["active_seconds"],
        keys=raw["keys"],
        clicks=raw["clicks"],
        scrolls=raw["scrolls"],
        mouse_px=raw["mouse_px"],
        state=raw["state"],
        timezone=zone,  # type: ignore[arg-type]  # checked above
        utc_offset_minutes=raw["utc_offset_minutes"],
    )


def parse_activity_batch(payload: Any, now: datetime) -> list[ActivityRecord]:
    """Validate a ``POST /activity`` body; raise ConfigError naming every bad field (nothing is stored)."""
    if not isinstance(payload, Mapping):
        raise ConfigError({"body": "must be a JSON object"})
    unknown = {key: "unknown field" for key in payload if key not in {"samples", "agent"}}
    samples = payload.get("samples")
    if not isinstance(samples, list):
        raise ConfigError({**unknown, "samples": "must be a list of samples"})
    if len(samples) > MAX_ACTIVITY_BATCH:
        raise ConfigError({**unknown, "samples": f"at most {MAX_ACTIVITY_BATCH} samples per request"})
    errors: dict[str, str] = dict(unknown)
    _check_agent_report(payload.get("agent"), errors)
    records = [_parse_sample(raw, now, f"samples[{index}]", errors) for index, raw in enumerate(samples)]
    if errors:
        raise ConfigError(errors)
    return [record for record in records if record is not None]


def upsert_activity(session: Session, user_id: int, records: Sequence[ActivityRecord], at: datetime) -> int:
    """Insert or replace each minute of ``records`` for the user; return how many minutes were stored."""
    latest: dict[datetime, ActivityRecord] = {}
    for record in records:  # the same minute twice in one batch: the later one wins
        latest[record.minute_start] = record
    if not latest:
        return 0
    rows = [
        {"user_id": user_id, **record.as_dict(), "minute_start": record.minute_start, "received_at": at}
        for record in latest.values()
    ]
    dialect = session.get_bind().dialect.name
    insert_function = postgresql_insert if dialect == "postgresql" else sqlite_insert
    if dialect not in {"postgresql", "sqlite"}:
        raise RuntimeError(f"activity upsert is not implemented for {dialect}")
    statement = insert_function(ActivitySample)
    replaced_columns = (
        "active_seconds", "state", "timezone", "utc_offset_minutes", "received_at", *_COUNT_FIELDS
    )
    replaced = {name: statement.excluded[name] for name in replaced_columns}
    statement = statement.on_conflict_do_update(index_elements=["user_id", "minute_start"], set_=replaced)
    session.execute(statement, rows)
    _refresh_rollup(session.connection(), user_id, {rollup_bucket_start(minute) for minute in latest})
    return len(rows)


# --------------------------------------------------------------------------- 15-minute rollup
ROLLUP_MINUTES = 15
ROLLUP_SECONDS = ROLLUP_MINUTES * 60
ROLLUP_COLUMNS = (
    "sample_minutes", "tracking_minutes", "idle_minutes", "paused_minutes", "suspended_minutes",
    "active_seconds", *_COUNT_FIELDS,
)


class bucket_start_of(FunctionElement[datetime]):
    """The start of the 15-minute UTC bucket holding a stored UTC timestamp, in the column's own form."""

    type = UtcDateTime()
    inherit_cache = True


# The bucket length is written into the SQL, not bound, so GROUP BY repeats the SELECT's expression.
@compiles(bucket_start_of, "sqlite")
def _bucket_start_sqlite(element: bucket_start_of, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps naive UTC text as 'YYYY-MM-DD HH:MM:SS.ffffff' (UtcDateTime); match it exactly,
    # since bounds are compared as text.
    moment = compiler.process(element.clauses, **kw)
    return (
        f"(datetime(CAST(strftime('%s', {moment}) AS INTEGER) / {ROLLUP_SECONDS} * {ROLLUP_SECONDS},"
        " 'unixepoch') || '.000000')"
    )


@compiles(bucket_start_of, "postgresql")
def _bucket_start_postgresql(element: bucket_start_of, compiler: SQLCompiler, **kw: Any) -> str:
    moment = compiler.process(element.clauses, **kw)
    return (
        f"to_timestamp(floor(EXTRACT(EPOCH FROM {moment}) / {ROLLUP_SECONDS}) * {ROLLUP_SECONDS})"
    )


_SAMPLES = cast(Table, ActivitySample.__table__)
_ROLLUPS = cast(Table, ActivityRollup.__table__)


def rollup_bucket_start(moment: datetime) -> datetime:
    """The start of the 15-minute UTC bucket holding ``moment`` (tz-aware UTC)."""
    epoch_seconds = int(moment.timestamp())
    return datetime.fromtimestamp(epoch_seconds - epoch_seconds % ROLLUP_SECONDS, UTC)


def _rollup_select(*conditions: ColumnElement[bool]) -> Any:
    """Per (user, bucket) sums over the minutes matching ``conditions``, in ROLLUP_COLUMNS order."""
    samples = _SAMPLES.c
    bucket = bucket_start_of(samples.minute_start)

    def minutes_in(state: str) -> ColumnElement[Any]:
        return func.sum(case((samples.state == state, 1), else_=0))

    return (
        select(
            samples.user_id,
            bucket,
            func.count(),
            *(minutes_in(state) for state in ACTIVITY_STATES),
            func.sum(case((samples.state == "tracking", samples.active_seconds), else_=0)),
            *(func.sum(samples[name]) for name in _COUNT_FIELDS),
        )
        .where(*conditions)
        .group_by(samples.user_id, bucket)
    )


def _rollup_insert(*conditions: ColumnElement[bool]) -> Any:
    rollups = _ROLLUPS
    return insert(rollups).from_select(
        ["user_id", "bucket_start", *ROLLUP_COLUMNS], _rollup_select(*conditions)
    )


def _bucket_runs(buckets: set[datetime]) -> list[tuple[datetime, datetime]]:
    """Sorted buckets merged into ``[start, end)`` runs of adjacent buckets."""
    step = timedelta(seconds=ROLLUP_SECONDS)
    runs: list[tuple[datetime, datetime]] = []
    for bucket in sorted(buckets):
        if runs and runs[-1][1] == bucket:
            runs[-1] = (runs[-1][0], bucket + step)
        else:
            runs.append((bucket, bucket + step))
    return runs


def _refresh_rollup(connection: Connection, user_id: int, buckets: set[datetime]) -> None:
    """Recompute the user's rollup rows of ``buckets`` from the stored minutes (replacing old rows).

    Recomputing instead of adding keeps a resent minute from counting twice.
    """
    if not buckets:
        return
    samples = _SAMPLES.c
    rollups = _ROLLUPS.c
    parameters = [
        {"rollup_user_id": user_id, "run_start": start, "run_end": end}
        for start, end in _bucket_runs(buckets)
    ]
    user = bindparam("rollup_user_id", type_=Integer())
    run_start = bindparam("run_start", type_=UtcDateTime())
    run_end = bindparam("run_end", type_=UtcDateTime())
    connection.execute(
        delete(_ROLLUPS).where(
            rollups.user_id == user, rollups.bucket_start >= run_start, rollups.bucket_start < run_end
        ),
        parameters,
    )
    connection.execute(
        _rollup_insert(
            samples.user_id == user, samples.minute_start >= run_start, samples.minute_start < run_end
        ),
        parameters,
    )


def rebuild_rollup(connection: Connection | Session, user_id: int | None = None) -> int:
    """Recompute the whole rollup (or one user's) from the stored minutes; return the bucket count.

    For bulk loads that bypass :func:`upsert_activity`, and for the migration that adds the table.
    """
    if isinstance(connection, Session):
        connection = connection.connection()
    rollups = _ROLLUPS
    samples = _SAMPLES.c
    if user_id is None:
        connection.execute(delete(rollups))
        connection.execute(_rollup_insert())
    else:
        connection.execute(delete(rollups).where(rollups.c.user_id == user_id))
        connection.execute(_rollup_insert(samples.user_id == user_id))
    count_query = select(func.count()).select_from(rollups)
    if user_id is not None:
        count_query = count_query.where(rollups.c.user_id == user_id)
    return int(connection.scalar(count_query) or 0)


def activity_between(
    session: Session, user_id: int | None, start: datetime, end: datetime
) -> list[tuple[str, ActivityRecord]]:
    """``(username, record)`` for minutes in ``[start, end)``, ordered by minute (all users when None)."""
    query = (
        select(ActivitySample, User.username)
        .join(User, User.id == ActivitySample.user_id)
        .where(ActivitySample.minute_start >= start, ActivitySample.minute_start < end)
        .order_by(ActivitySample.minute_start, User.username)
    )
    if user_id is not None:
        query = query.where(ActivitySample.user_id == user_id)
    result = []
    for row, username in session.execute(query):
        record = ActivityRecord(
            minute_start=row.minute_start,
            active_seconds=row.active_seconds,
            keys=row.keys,
            clicks=row.clicks,
            scrolls=row.scrolls,
            mouse_px=row.mouse_px,
            state=row.state,
            timezone=row.timezone,
            utc_offset_minutes=row.utc_offset_minutes,
        )
        result.append((username, record))
    return result


# --------------------------------------------------------------------------- agent backlog
@dataclass(frozen=True, slots=True)
class AgentBacklog:
    """What an agent reports beside its samples: screenshots waiting to upload, and kept aside."""

    uploads_waiting: int
    kept_aside: int


_AGENT_FIELDS = ("uploads_waiting", "kept_aside")


def _check_agent_report(raw: Any, errors: dict[str, str]) -> None:
    if raw is None:
        return
    if not isinstance(raw, Mapping):
        errors["agent"] = "must be an object"
        return
    for key in raw:
        if key not in _AGENT_FIELDS:
            errors[f"agent.{key}"] = "unknown field"
    for name in _AGENT_FIELDS:
        if name not in raw:
            errors[f"agent.{name}"] = "is missing"
            continue
        message = _int_error(raw[name], 0, _MAX_COUNT)
        if message is not None:
            errors[f"agent.{name}"] = message


def parse_agent_backlog(payload: Any) -> AgentBacklog | None:
    """The optional ``"agent"`` object of a ``POST /activity`` body (None when absent); ConfigError if bad."""
    if not isinstance(payload, Mapping) or payload.get("agent") is None:
        return None
    errors: dict[str, str] = {}
    raw = payload["agent"]
    _check_agent_report(raw, errors)
    if errors:
        raise ConfigError(errors)
    return AgentBacklog(uploads_waiting=raw["uploads_waiting"], kept_aside=raw["kept_aside"])


def save_agent_backlog(session: Session, user_id: int, backlog: AgentBacklog, at: datetime) -> None:
    """Keep the newest backlog the user's agent reported."""
    row = session.get(AgentReport, user_id)
    if row is None:
        session.add(
            AgentReport(
                user_id=user_id, uploads_waiting=backlog.uploads_waiting, kept_aside=backlog.kept_aside,
                reported_at=at,
            )
        )
    else:
        row.uploads_waiting = backlog.uploads_waiting
        row.kept_aside = backlog.kept_aside
        row.reported_at = at
    session.flush()
