"""The people audit: who invited, enabled, disabled, promoted, demoted, re-addressed or deleted whom, when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from server.db.models import Base, UtcDateTime


class PeopleAuditEntry(Base):
    """One change to an account by an administrator (or by its person, through a mailed link).

    ``username`` is text, not a reference: the entry outlives a deleted account.
    """

    __tablename__ = "people_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    username: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(300), default="")


@dataclass(frozen=True, slots=True)
class AuditLine:
    """An entry as the People page lists it."""

    at: datetime
    actor: str
    action: str
    username: str
    detail: str


def record(session: Session, at: datetime, actor: str, action: str, username: str, detail: str = "") -> None:
    """Add one entry (in the caller's transaction, so it commits with the change)."""
    session.add(PeopleAuditEntry(at=at, actor=actor, action=action, username=username, detail=detail[:300]))


def recent(session: Session, limit: int = 100) -> list[AuditLine]:
    """The newest entries first."""
    rows = session.scalars(select(PeopleAuditEntry).order_by(PeopleAuditEntry.id.desc()).limit(limit))
    return [AuditLine(row.at, row.actor, row.action, row.username, row.detail) for row in rows]
