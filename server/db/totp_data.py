"""Authenticator-app tables and their atomic steps: recovery codes, sign-in policies, the used TOTP step.

Each step that must happen once is one ``UPDATE … WHERE`` whose row count says who won, as in
server/db/challenges.py: a TOTP step is accepted only when it is later than the last one used, and a
recovery code only while it is unused, so two concurrent requests can never both pass.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from server.db.models import Base, User, UtcDateTime

logger = logging.getLogger(__name__)

REQUIRE_ADMIN_TOTP = "require_admin_totp"


class RecoveryCode(Base):
    """One single-use recovery code of an account's authenticator app, kept only as an HMAC."""

    __tablename__ = "totp_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class SignInPolicy(Base):
    """A server-wide sign-in rule an administrator sets (e.g. ``require_admin_totp``), with who set it."""

    __tablename__ = "sign_in_policies"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(String(64))


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def use_step(session: Session, user_id: int, step: int) -> bool:
    """Record ``step`` as the account's last used TOTP step; False when it (or a later one) was used."""
    result = session.execute(
        update(User)
        .where(User.id == user_id, (User.totp_last_step.is_(None)) | (User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def use_recovery_code(session: Session, user_id: int, code_hash: str, now: datetime) -> bool:
    """Spend one unused recovery code with this hash; False when there is none."""
    code_id = session.scalar(
        select(RecoveryCode.id).where(
            RecoveryCode.user_id == user_id, RecoveryCode.code_hash == code_hash,
            RecoveryCode.used_at.is_(None),
        )
    )
    if code_id is None:
        return False
    result = session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.id == code_id, RecoveryCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def replace_recovery_codes(session: Session, user_id: int, code_hashes: list[str], now: datetime) -> None:
    """Forget the account's recovery codes and keep these new ones."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    session.add_all(RecoveryCode(user_id=user_id, code_hash=digest, created_at=now) for digest in code_hashes)


def unused_recovery_codes(session: Session, user_id: int) -> int:
    """How many recovery codes the account has left."""
    rows = session.scalars(
        select(RecoveryCode.id).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    return len(list(rows))


def delete_recovery_codes(session: Session, user_id: int) -> None:
    """Forget every recovery code of the account (the app was turned off)."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


def policy_enabled(session: Session, key: str) -> bool:
    """Whether the named sign-in policy is on (off until an administrator turns it on)."""
    row = session.get(SignInPolicy, key)
    return bool(row is not None and row.enabled)


def set_policy(session: Session, key: str, enabled: bool, actor: str, now: datetime) -> None:
    """Turn the named sign-in policy on or off."""
    row = session.get(SignInPolicy, key)
    if row is None:
        session.add(SignInPolicy(key=key, enabled=enabled, updated_at=now, updated_by=actor))
    else:
        row.enabled, row.updated_at, row.updated_by = enabled, now, actor
