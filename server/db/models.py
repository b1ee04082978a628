"""The tables, as SQLAlchemy models; every timestamp is stored as UTC and comes back tz-aware."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

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
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

logger = logging.getLogger(__name__)


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
    # Authenticator app (server/totp.py): the sealed secret, when it was confirmed, the last step used.
    totp_secret: Mapped[str | None] = mapped_column(String(255), nullable=True)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


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
    # "email" (a mailed code) or "totp" (the authenticator app's code; code_hash is unused).
    method: Mapped[str] = mapped_column(String(8), default="email", server_default="email")


class AuthToken(Base):
    """A bearer token, stored as its SHA-256; revocable."""

    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # Sliding sessions: expires_at moves to last use + the idle window (written at most once a minute).
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    device_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # "desktop" (a bearer token) or "web" (the token behind a browser session).
    kind: Mapped[str] = mapped_column(String(8), default="desktop", server_default="desktop")


class LoginFailure(Base):
    """One failed password attempt on an account (for throttling)."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_user_time", "user_id", "failed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    failed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ThrottleCounter(Base):
    """One sign-in counter, updated in place by one atomic upsert (issue 10 item 11).

    ``key`` is the SHA-256 of what is counted (a lowercased name, an address), so submitted text
    never lands in the table. Window counters keep the current and the previous fixed window;
    run counters (``window_start`` unused) count consecutive failures until a success.
    """

    __tablename__ = "throttle_counters"
    __table_args__ = (Index("ix_throttle_counters_updated", "updated_at"),)

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime())
    count: Mapped[int] = mapped_column(Integer)
    previous_count: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class WebSession(Base):
    """An /admin browser session kept server-side; the cookie holds a random id, kept here as its SHA-256."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    data: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(256), nullable=True)


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


class Device(Base):
    """One agent installation of a user (uid 32 hex, or "default" for old agents) and its newest report.

    The report columns are None until the agent first sends that field (``"agent"`` of POST /activity).
    """

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("user_id", "uid", name="uq_devices_user_uid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    uid: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    uploads_waiting: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kept_aside: Mapped[int | None] = mapped_column(Integer, nullable=True)
    minutes_set_aside: Mapped[int | None] = mapped_column(Integer, nullable=True)
    input_ok: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    input_restarts: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class ActivitySample(Base):
    """One device's activity in one UTC minute; a resent minute replaces the row, reports merge devices."""

    __tablename__ = "activity_samples"
    # (user, minute, device): unique per device, and the leading (user, minute) serves every range read.
    __table_args__ = (
        UniqueConstraint(
            "user_id", "minute_start", "device_id", name="uq_activity_samples_user_minute_device"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    minute_start: Mapped[datetime] = mapped_column(UtcDateTime())
    active_seconds: Mapped[int] = mapped_column(Integer)
    # NULL: not counted on this device (contract.activity.COUNT_FIELDS, migration 0011).
    keys: Mapped[int | None] = mapped_column(Integer, nullable=True)
    clicks: Mapped[int | None] = mapped_column(Integer, nullable=True)
    scrolls: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mouse_px: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64))
    utc_offset_minutes: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ActivityRollup(Base):
    """Sums over one user's minutes in one 15-minute UTC bucket (issue 6: range reports read these).

    Kept in step with ``activity_samples`` by :func:`upsert_activity` in the same transaction, over
    the minutes merged across the user's devices; :func:`rebuild_rollup` recomputes it from the
    minutes. ``active_seconds`` counts tracking minutes only, as the reports do.
    """

    __tablename__ = "activity_rollups"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    sample_minutes: Mapped[int] = mapped_column(Integer)
    tracking_minutes: Mapped[int] = mapped_column(Integer)
    idle_minutes: Mapped[int] = mapped_column(Integer)
    paused_minutes: Mapped[int] = mapped_column(Integer)
    suspended_minutes: Mapped[int] = mapped_column(Integer)
    idle_kept_minutes: Mapped[int] = mapped_column(Integer, server_default="0")  # idle counted as work
    active_seconds: Mapped[int] = mapped_column(Integer)
    # Fifteen minutes of counts may pass 2**31; NULL when no minute of the bucket was counted.
    keys: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    clicks: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    scrolls: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    mouse_px: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Screenshot(Base):
    """Metadata of one uploaded screenshot (the JPEG itself lives in object storage)."""

    __tablename__ = "screenshots"
    __table_args__ = (Index("ix_screenshots_user_taken", "user_id", "taken_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL"), nullable=True
    )
    key: Mapped[str] = mapped_column(String(512), unique=True)
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime())
    timezone: Mapped[str] = mapped_column(String(64))
    blurred: Mapped[bool] = mapped_column(Boolean)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Which monitor (0-based, left to right); the images of one moment share taken_at (issue 13).
    monitor: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ScreenshotDeletion(Base):
    """Audit entry: a screenshot deleted (object and record), or a capture held back on its device.

    ``kind`` is ``"admin"`` (an administrator deleted it), ``"owner"`` (its person did, within the
    delete window) or ``"withheld"`` (deleted on the device before upload: no key, never stored).
    """

    __tablename__ = "screenshot_deletions"
    __table_args__ = (
        Index("ix_screenshot_deletions_at", "at"),
        Index("ix_screenshot_deletions_username_taken", "username", "taken_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(64))
    key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime())
    kind: Mapped[str] = mapped_column(String(16), default="admin", server_default="admin")
    device_uid: Mapped[str | None] = mapped_column(String(32), nullable=True)
