"""Screenshot data: registering one, one screenshot with its owner, deleting it with an audit entry.

The audit (``screenshot_deletions``) also records captures their person deleted on the device
before upload (``kind="withheld"``: no key, nothing was ever stored).
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from contract.screenshots import ScreenshotRegistration
from server.db.models import Screenshot, ScreenshotDeletion, User

logger = logging.getLogger(__name__)


_SCREENSHOTS = cast(Table, Screenshot.__table__)
# Built once (issue 14's load): the agents' screenshot calls run these, with the values as parameters.
_ID_BY_KEY = select(_SCREENSHOTS.c.id).where(_SCREENSHOTS.c.key == bindparam("key"))


def screenshot_id_by_key(session: Session, key: str) -> int | None:
    """The id of the screenshot registered under ``key``, or None."""
    found = session.execute(_ID_BY_KEY, {"key": key}).scalar_one_or_none()
    return None if found is None else int(found)


def register_screenshot(
    session: Session, user_id: int, registration: ScreenshotRegistration, device_id: int | None, at: datetime
) -> int | None:
    """Record an uploaded capture and return its id; None when its key was already registered.

    One ``INSERT … ON CONFLICT (key) DO NOTHING``: of two racing calls, one wins.
    """
    row = {
        "user_id": user_id, "device_id": device_id, "key": registration.key,
        "taken_at": registration.taken_at, "timezone": registration.timezone, "blurred": registration.blurred,
        "width": registration.width, "height": registration.height, "size_bytes": registration.size_bytes,
        "sha256": registration.sha256, "uploaded_at": at, "monitor": registration.monitor,
    }
    created = session.execute(_screenshot_insert(session.get_bind().dialect.name), row).scalar_one_or_none()
    return None if created is None else int(created)


@functools.cache
def _screenshot_insert(dialect: str) -> Any:
    """register_screenshot's statement, built once per dialect; the row comes as parameters."""
    if dialect not in {"postgresql", "sqlite"}:
        raise RuntimeError(f"screenshot registration is not implemented for {dialect}")
    statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(_SCREENSHOTS)
    return statement.on_conflict_do_nothing(index_elements=["key"]).returning(_SCREENSHOTS.c.id)


def find_screenshot(session: Session, screenshot_id: int) -> tuple[Screenshot, str] | None:
    """The screenshot row and its owner's username, or None."""
    row = session.execute(
        select(Screenshot, User.username).join(User, User.id == Screenshot.user_id).where(
            Screenshot.id == screenshot_id
        )
    ).first()
    return None if row is None else (row[0], row[1])


KIND_ADMIN = "admin"
KIND_OWNER = "owner"
KIND_WITHHELD = "withheld"


def record_deletion(
    session: Session, screenshot: Screenshot, username: str, actor: str, at: datetime,
    kind: str = KIND_ADMIN,
) -> bool:
    """Delete the screenshot's row and write the audit entry (the caller deletes the object).

    False, and no entry, when a concurrent request deleted the row first.
    """
    removed = session.execute(
        delete(Screenshot).where(Screenshot.id == screenshot.id).execution_options(synchronize_session=False)
    )
    if not int(getattr(removed, "rowcount", 0) or 0):
        return False
    session.expunge(screenshot)
    session.add(
        ScreenshotDeletion(
            at=at, actor=actor, username=username, key=screenshot.key, taken_at=screenshot.taken_at,
            kind=kind,
        )
    )
    session.flush()
    return True


def record_withheld_once(
    session: Session, username: str, taken_at: datetime, device_uid: str, at: datetime
) -> ScreenshotDeletion:
    """Record that ``username`` deleted a capture on a device before it was uploaded (only the fact).

    The same capture (person, device, moment) reported again returns the first entry.
    """
    existing = session.scalars(
        select(ScreenshotDeletion).where(
            ScreenshotDeletion.username == username, ScreenshotDeletion.taken_at == taken_at,
            ScreenshotDeletion.kind == KIND_WITHHELD, ScreenshotDeletion.device_uid == device_uid,
        ).limit(1)
    ).first()
    if existing is not None:
        return existing
    entry = ScreenshotDeletion(
        at=at, actor=username, username=username, key=None, taken_at=taken_at, kind=KIND_WITHHELD,
        device_uid=device_uid,
    )
    session.add(entry)
    session.flush()
    return entry


def owned_screenshots(
    session: Session, user_id: int, start: datetime, end: datetime
) -> list[Screenshot]:
    """One person's screenshots taken in ``[start, end)``, oldest first."""
    query = (
        select(Screenshot)
        .where(Screenshot.user_id == user_id, Screenshot.taken_at >= start, Screenshot.taken_at < end)
        .order_by(Screenshot.taken_at, Screenshot.monitor, Screenshot.id)
    )
    return list(session.scalars(query))


def deletions_between(
    session: Session, username: str, start: datetime, end: datetime
) -> list[ScreenshotDeletion]:
    """One person's deleted and held-back captures taken in ``[start, end)``, in order of capture."""
    query = (
        select(ScreenshotDeletion)
        .where(
            ScreenshotDeletion.username == username,
            ScreenshotDeletion.taken_at >= start,
            ScreenshotDeletion.taken_at < end,
        )
        .order_by(ScreenshotDeletion.taken_at, ScreenshotDeletion.id)
    )
    return list(session.scalars(query))


def deletion_log(session: Session, limit: int = 500) -> list[ScreenshotDeletion]:
    """The newest screenshot deletions first."""
    query = select(ScreenshotDeletion).order_by(ScreenshotDeletion.id.desc()).limit(limit)
    return list(session.scalars(query))
