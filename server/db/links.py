"""One-time links (invitation, password reset, email change): one table, the token kept only as its SHA-256.

A link is mailed once as ``<public URL>/<page>/<token>``; opening the page only looks the link up,
the form's POST consumes it with one conditional UPDATE, so two submissions can never both use it.
A new link of a kind replaces the person's earlier unused one of that kind (a resend).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Index, Integer, String, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from server.db.models import Base, User, UtcDateTime
from server.passwords import token_digest

logger = logging.getLogger(__name__)

INVITATION = "invitation"
PASSWORD_RESET = "password_reset"  # noqa: S105 - a link kind, not a secret
EMAIL_CHANGE = "email_change"
KINDS = (INVITATION, PASSWORD_RESET, EMAIL_CHANGE)
LIFETIMES = {
    INVITATION: timedelta(hours=48),
    PASSWORD_RESET: timedelta(minutes=30),
    EMAIL_CHANGE: timedelta(hours=48),
}


class OneTimeLink(Base):
    """A mailed link that works once until ``expires_at``; ``email`` is the new address of an email change."""

    __tablename__ = "one_time_links"
    __table_args__ = (Index("ix_one_time_links_user_kind", "user_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


@dataclass(frozen=True, slots=True)
class IssuedLink:
    """A new link's token (mailed once, never stored) and when it stops working."""

    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class OpenLink:
    """A link that still works, with its account."""

    kind: str
    user_id: int
    username: str
    email: str | None
    expires_at: datetime


def create(
    session: Session, kind: str, user_id: int, now: datetime, *, email: str | None = None,
    created_by: str | None = None,
) -> IssuedLink:
    """A new link of ``kind`` for the account (its earlier unused links of that kind stop working)."""
    if kind not in KINDS:
        raise ValueError(f"unknown link kind {kind!r}")
    session.execute(
        update(OneTimeLink)
        .where(OneTimeLink.user_id == user_id, OneTimeLink.kind == kind, OneTimeLink.used_at.is_(None),
               OneTimeLink.expires_at > now)
        .values(expires_at=now)
    )
    token = secrets.token_urlsafe(32)  # 256 bits
    expires_at = now + LIFETIMES[kind]
    session.add(OneTimeLink(
        kind=kind, token_hash=token_digest(token), user_id=user_id, email=email, created_by=created_by,
        created_at=now, expires_at=expires_at,
    ))
    session.flush()
    return IssuedLink(token, expires_at)


def find_open(session: Session, kind: str, token: str, now: datetime) -> OpenLink | None:
    """The unused, unexpired link of ``kind`` with this token, or None (nothing is changed)."""
    if not token or len(token) > 128:
        return None
    row = session.execute(
        select(OneTimeLink, User.username)
        .join(User, User.id == OneTimeLink.user_id)
        .where(OneTimeLink.token_hash == token_digest(token), OneTimeLink.kind == kind,
               OneTimeLink.used_at.is_(None), OneTimeLink.expires_at > now)
    ).first()
    if row is None:
        return None
    link, username = row
    return OpenLink(link.kind, link.user_id, username, link.email, link.expires_at)


def consume(session: Session, kind: str, token: str, now: datetime) -> OpenLink | None:
    """Use the link once: the link as it was, or None when it is unknown, used or expired.

    One conditional UPDATE marks it used; of concurrent calls exactly one changes the row.
    """
    found = find_open(session, kind, token, now)
    if found is None:
        return None
    result = session.execute(
        update(OneTimeLink)
        .where(OneTimeLink.token_hash == token_digest(token), OneTimeLink.kind == kind,
               OneTimeLink.used_at.is_(None), OneTimeLink.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return found if result.rowcount == 1 else None  # type: ignore[attr-defined]


def pending_expiry(session: Session, kind: str, user_id: int, now: datetime) -> datetime | None:
    """When the account's newest working link of ``kind`` expires, or None when it has none."""
    return session.scalar(
        select(OneTimeLink.expires_at)
        .where(OneTimeLink.user_id == user_id, OneTimeLink.kind == kind, OneTimeLink.used_at.is_(None),
               OneTimeLink.expires_at > now)
        .order_by(OneTimeLink.expires_at.desc())
        .limit(1)
    )


def purge_expired(session: Session, now: datetime) -> int:
    """Delete every link past its expiry (used links go when their time is up too); how many went."""
    result = session.execute(delete(OneTimeLink).where(OneTimeLink.expires_at <= now))
    removed = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if removed:
        logger.info("purged %d expired one-time links", removed)
    return removed
