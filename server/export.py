"""Everything the server holds about one person as one zip (``GET /me/export``; an admin exports anyone).

The zip holds ``account.json``, ``minutes.csv`` (every stored minute of every device),
``screenshots.csv`` and the images under ``screenshots/``, ``deletions.csv`` (deleted and held-back
captures), ``devices.csv``, ``config.json`` (overrides and effective values), ``config_changes.csv``
(changes made to this person's overrides) and ``sign_in_history.csv`` (sign-in challenges, tokens,
browser sessions and mailed one-time links: when, never a code, hash or id). It is built in a
temporary file that spills to disk past EXPORT_MEMORY_BYTES, so a year of screenshots does not sit
in memory.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import config_data
from server.db.links import OneTimeLink
from server.db.models import (
    ActivitySample,
    AuthToken,
    ConfigAudit,
    Device,
    LoginChallenge,
    Screenshot,
    ScreenshotDeletion,
    User,
    WebSession,
)
from server.stores.objectstore import ObjectStore

logger = logging.getLogger(__name__)

EXPORT_MEMORY_BYTES = 16 * 1024 * 1024
SCREENSHOT_FOLDER = "screenshots/"

MINUTE_COLUMNS = (
    "minute_start", "device_id", "device_name", "state", "active_seconds", "keys", "clicks", "scrolls",
    "mouse_px", "timezone", "utc_offset_minutes", "received_at",
)
SCREENSHOT_COLUMNS = (
    "id", "key", "taken_at", "timezone", "blurred", "width", "height", "size_bytes", "sha256",
    "uploaded_at", "device_id", "file",
)
DELETION_COLUMNS = ("taken_at", "kind", "by", "at", "key", "device_id")
DEVICE_COLUMNS = ("device_id", "name", "first_seen_at", "last_seen_at")
CONFIG_CHANGE_COLUMNS = ("at", "actor", "key", "old", "new")
SIGN_IN_COLUMNS = (
    "kind", "created_at", "expires_at", "used_at", "revoked_at", "locked_at", "failed_attempts",
)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_text(value) for value in row])
    return buffer.getvalue()


def export_file_name(username: str, now: datetime) -> str:
    """``vinova-export-ann-20261202T061500Z.zip``."""
    return f"vinova-export-{username}-{now:%Y%m%dT%H%M%SZ}.zip"


def _minute_rows(session: Session, user_id: int) -> Iterable[Sequence[Any]]:
    query = (
        select(ActivitySample, Device.uid, Device.name)
        .join(Device, Device.id == ActivitySample.device_id)
        .where(ActivitySample.user_id == user_id)
        .order_by(ActivitySample.minute_start, Device.uid)
        .execution_options(yield_per=2000)
    )
    for sample, uid, name in session.execute(query):
        yield (
            sample.minute_start, uid, name, sample.state, sample.active_seconds, sample.keys, sample.clicks,
            sample.scrolls, sample.mouse_px, sample.timezone, sample.utc_offset_minutes, sample.received_at,
        )


def _sign_in_rows(session: Session, user_id: int) -> list[Sequence[Any]]:
    rows: list[Sequence[Any]] = []
    for challenge in session.scalars(
        select(LoginChallenge).where(LoginChallenge.user_id == user_id).order_by(LoginChallenge.created_at)
    ):
        rows.append(("sign-in code", challenge.created_at, challenge.expires_at, challenge.used_at, None,
                     challenge.locked_at, challenge.failed_attempts))
    for token in session.scalars(
        select(AuthToken).where(AuthToken.user_id == user_id).order_by(AuthToken.created_at)
    ):
        rows.append(("token", token.created_at, token.expires_at, None, token.revoked_at, None, None))
    for web_session in session.scalars(
        select(WebSession).where(WebSession.user_id == user_id).order_by(WebSession.created_at)
    ):
        rows.append(
            ("browser session", web_session.created_at, web_session.expires_at, None, None, None, None)
        )
    for link in session.scalars(
        select(OneTimeLink).where(OneTimeLink.user_id == user_id).order_by(OneTimeLink.created_at)
    ):
        rows.append((f"mailed link ({link.kind})", link.created_at, link.expires_at, link.used_at, None, None,
                     None))
    rows.sort(key=lambda row: row[1])
    return rows


def write_export(session: Session, user: User, object_store: ObjectStore, stream: IO[bytes]) -> int:
    """Write the zip of everything held about ``user`` to ``stream``; return how many images it holds."""
    images = 0
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        account = {"username": user.username, "email": user.email, "is_admin": user.is_admin,
                   "is_enabled": user.is_enabled, "created_at": user.created_at.isoformat()}
        archive.writestr("account.json", json.dumps(account, indent=2) + "\n")
        archive.writestr("minutes.csv", _csv_text(MINUTE_COLUMNS, _minute_rows(session, user.id)))
        devices = {device.id: device for device in session.scalars(
            select(Device).where(Device.user_id == user.id).order_by(Device.first_seen_at)
        )}
        archive.writestr("devices.csv", _csv_text(DEVICE_COLUMNS, (
            (device.uid, device.name, device.first_seen_at, device.last_seen_at)
            for device in devices.values()
        )))
        screenshot_rows = []
        shots = session.scalars(
            select(Screenshot).where(Screenshot.user_id == user.id)
            .order_by(Screenshot.taken_at, Screenshot.id)
        )
        for shot in shots:
            data = object_store.read_bytes(shot.key)
            file_name = ""
            if data is not None:
                file_name = SCREENSHOT_FOLDER + shot.key
                archive.writestr(zipfile.ZipInfo(file_name, _zip_time(shot.taken_at)), data,
                                 compress_type=zipfile.ZIP_STORED)
                images += 1
            device = devices.get(shot.device_id) if shot.device_id is not None else None
            screenshot_rows.append((
                shot.id, shot.key, shot.taken_at, shot.timezone, shot.blurred, shot.width, shot.height,
                shot.size_bytes, shot.sha256, shot.uploaded_at, device.uid if device else "", file_name,
            ))
        archive.writestr("screenshots.csv", _csv_text(SCREENSHOT_COLUMNS, screenshot_rows))
        deletions = session.scalars(
            select(ScreenshotDeletion).where(ScreenshotDeletion.username == user.username)
            .order_by(ScreenshotDeletion.taken_at, ScreenshotDeletion.id)
        )
        archive.writestr("deletions.csv", _csv_text(DELETION_COLUMNS, (
            (entry.taken_at, entry.kind, entry.actor, entry.at, entry.key, entry.device_uid)
            for entry in deletions
        )))
        config = {"overrides": config_data.user_overrides(session, user.id),
                  "effective": config_data.effective_config(session, user.id)}
        archive.writestr("config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
        changes = session.scalars(
            select(ConfigAudit).where(ConfigAudit.target_user_id == user.id).order_by(ConfigAudit.id)
        )
        archive.writestr("config_changes.csv", _csv_text(CONFIG_CHANGE_COLUMNS, (
            (change.at, change.actor, change.key, json.dumps(change.old_value), json.dumps(change.new_value))
            for change in changes
        )))
        archive.writestr("sign_in_history.csv", _csv_text(SIGN_IN_COLUMNS, _sign_in_rows(session, user.id)))
    return images


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    # Zip entries hold a wall-clock time without a zone: the capture's UTC time (1980 at the earliest).
    year = max(moment.year, 1980)
    return (year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def build_export(session: Session, user: User, object_store: ObjectStore) -> IO[bytes]:
    """The export zip of ``user`` in a temporary file, rewound; the caller sends and closes it."""
    stream: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=EXPORT_MEMORY_BYTES)
    try:
        images = write_export(session, user, object_store, stream)
    except BaseException:
        stream.close()
        raise
    stream.seek(0)
    logger.info("export of %s built with %d image(s)", user.username, images)
    return stream
