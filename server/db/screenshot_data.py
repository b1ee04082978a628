"""Screenshot data the diary pages need: one screenshot with its owner, deleting it with an audit entry."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Screenshot, ScreenshotDeletion, User

logger = logging.getLogger(__name__)


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
