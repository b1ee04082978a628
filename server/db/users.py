"""Looking up accounts by name (creating and signing them in is auth_manager's job)."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contract.errors import RequestRefused
from server.db.models import User

logger = logging.getLogger(__name__)


def find_user(session: Session, username: str) -> User | None:
    """The account with this username, or None."""
    return session.scalar(select(User).where(User.username == username))


def user_or_404(session: Session, username: str) -> User:
    """The account with this username; 404 ``not_found`` naming it when there is none."""
    user = find_user(session, username)
    if user is None:
        raise RequestRefused(f"user {username!r} not found", status=404, code="not_found")
    return user


def listed_users(session: Session, name_filter: str = "") -> list[User]:
    """Every account, by username; ``name_filter`` keeps names containing it (any case)."""
    query = select(User).order_by(User.username)
    if name_filter:
        query = query.where(func.lower(User.username).contains(name_filter.lower(), autoescape=True))
    return list(session.scalars(query))
