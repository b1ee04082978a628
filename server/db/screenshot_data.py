"""Screenshot data: registering one, one screenshot with its owner, deleting it with an audit entry."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from contract.screenshots import ScreenshotRegistration
from server.db.models import Screenshot, ScreenshotDeletion, User

logger = logging.getLogger(__name__)


def register_screenshot(
    session: Session, user_id: int, registration: ScreenshotRegistration, device_id: int | None, at: datetime
) -> bool:
    """Record an uploaded capture; False when its key was already registered (two racing calls: one wins)."""
    insert_function = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert_function(Screenshot).values(
        user_id=user_id, device_id=device_id, key=registration.key, taken_at=registration.taken_at,
        timezone=registration.timezone, blurred=registration.blurred, width=registration.width,
        height=registration.height, size_bytes=registration.size_bytes, sha256=registration.sha256,
        uploaded_at=at,
    )
    returning = statement.on_conflict_do_nothing(index_elements=["key"]).returning(Screenshot.id)
    return session.execute(returning).scalar_one_or_none() is not None


def find_screenshot(session: Session, screenshot_id: int) -> tuple[Screenshot, str] | None:
    """The screenshot row and its owner's username, or None."""
    row = session.execute(
        select(Screenshot, User.username).join(User, User.id == Screenshot.user_id).where(
            Screenshot.id == screenshot_id
        )
    ).first()
    return None if row is None else (row[0], row[1])


def record_deletion(
    session: Session, screenshot: Screenshot, username: str, actor: str, at: datetime
) -> None:
    """Delete the screenshot's row and write the audit entry (the caller deletes the object)."""
    session.add(
        ScreenshotDeletion(
            at=at, actor=actor, username=username, key=screenshot.key, taken_at=screenshot.taken_at
        )
    )
    session.delete(screenshot)
    session.flush()


def deletion_log(session: Session, limit: int = 500) -> list[ScreenshotDeletion]:
    """The newest screenshot deletions first."""
    query = select(ScreenshotDeletion).order_by(ScreenshotDeletion.id.desc()).limit(limit)
    return list(session.scalars(query))
