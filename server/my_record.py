"""A person's own record: their diary day, screenshots, report and devices, and deleting their captures.

Shared by the ``/me`` pages (session cookie) and ``/api/me/`` (bearer token). Every function takes
the signed-in account and reads only that account's rows: nothing here accepts a username, so no
route built on it can reach another person's data. A screenshot id that is not the caller's answers
as unknown (404), never as forbidden, so ids of colleagues' captures cannot be probed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

import time_manager
from auth_manager import Principal
from contract.errors import RequestRefused
from server.context import ServerContext
from server.db import config_data, screenshot_data
from server.db.agents import DeviceStatus, devices_of
from server.db.models import Screenshot, ScreenshotDeletion, User
from server.reports.days import Report, team_report
from server.reports.diary import DiaryDay, diary_day
from server.reports.tallies import SLOT_SECONDS
from server.reports.zones import ZoneChoice, check_report_day, user_zones
from server.stores.thumbnails import delete_with_thumbnail

logger = logging.getLogger(__name__)

DELETE_WINDOW_KEY = "employee_delete_window_minutes"
NOT_FOUND_MESSAGE = "no such screenshot of yours"


@dataclass(frozen=True, slots=True)
class Policy:
    """What the organisation lets a person do with their captures and how long the server keeps data."""

    delete_window_minutes: int
    upload_delay_seconds: int
    screenshot_retention_days: int
    activity_retention_days: int

    @property
    def delete_text(self) -> str:
        """The delete window in plain words."""
        if self.delete_window_minutes <= 0:
            return "You cannot delete your screenshots (your organisation's setting)."
        return f"You can delete a screenshot for {_span_text(self.delete_window_minutes)} after it is taken."

    @property
    def retention_text(self) -> str:
        """The retention in force in plain words."""
        return (f"Screenshots are kept {_days_text(self.screenshot_retention_days)}; "
                f"activity minutes {_days_text(self.activity_retention_days)}.")

    def deletable_until(self, taken_at: datetime) -> datetime | None:
        """Until when a capture taken at ``taken_at`` may be deleted by its person (None: never)."""
        if self.delete_window_minutes <= 0:
            return None
        return taken_at + timedelta(minutes=self.delete_window_minutes)

    def may_delete(self, taken_at: datetime, now: datetime) -> bool:
        """Whether the capture is still inside the delete window at ``now``."""
        until = self.deletable_until(taken_at)
        return until is not None and now <= until


def _days_text(days: int) -> str:
    if days <= 0:
        return "forever"
    return f"for {days} day{'s' if days != 1 else ''}"


def _span_text(minutes: int) -> str:
    if minutes % 1440 == 0:
        days = minutes // 1440
        return f"{days} day{'s' if days != 1 else ''}"
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def policy_for(session: Session, context: ServerContext, user_id: int) -> Policy:
    """The policy in force for one person (their effective config and the server's retention)."""
    effective = config_data.effective_config(session, user_id)
    settings = context.settings
    return Policy(
        delete_window_minutes=int(effective.get(DELETE_WINDOW_KEY, 0)),
        upload_delay_seconds=int(effective.get("upload_delay_seconds", 0)),
        screenshot_retention_days=settings.screenshot_retention_days,
        activity_retention_days=settings.activity_retention_days,
    )


def own_user(session: Session, principal: Principal) -> User:
    """The signed-in person's row (an account deleted meanwhile reads as signed out)."""
    user = session.get(User, principal.user_id)
    if user is None:
        raise RequestRefused("the account no longer exists", status=401, code="unauthorized")
    return user


def own_zone(session: Session, user: User, zone: str | None) -> ZoneChoice:
    """The zone the person's days are shown in: the one asked for, else their own (newest activity)."""
    return user_zones(session, [user], zone)[user.id]


def own_diary(
    session: Session, context: ServerContext, principal: Principal, day: date | None, zone: str | None
) -> DiaryDay:
    """The person's local day in 10-minute slots, as the admin's diary shows it."""
    user = own_user(session, principal)
    choice = own_zone(session, user, zone)
    shown_day = check_report_day(day or time_manager.local_date(context.now(), choice.name), "date")
    return diary_day(session, user, shown_day, choice)


def deletions_by_slot(
    diary: DiaryDay, entries: tuple[ScreenshotDeletion, ...]
) -> dict[int, list[ScreenshotDeletion]]:
    """The day's deleted and held-back captures by the index of the slot they were taken in."""
    slots: dict[int, list[ScreenshotDeletion]] = {}
    for entry in entries:
        if diary.start <= entry.taken_at < diary.end:
            index = int((entry.taken_at - diary.start).total_seconds() // SLOT_SECONDS)
            slots.setdefault(index, []).append(entry)
    return slots


def deletion_json(entry: ScreenshotDeletion) -> dict[str, Any]:
    """One deleted or held-back capture as the diary JSON lists it (never its key)."""
    return {"taken_at": entry.taken_at.isoformat(), "kind": entry.kind, "by": entry.actor,
            "at": entry.at.isoformat()}


def own_screenshots(
    session: Session, principal: Principal, day: date | None, zone: str | None, now: datetime
) -> tuple[date, ZoneChoice, list[Screenshot]]:
    """The person's screenshots of one local day (default today in their zone), oldest first."""
    user = own_user(session, principal)
    choice = own_zone(session, user, zone)
    shown_day = check_report_day(day or time_manager.local_date(now, choice.name), "date")
    start, end = time_manager.local_day_bounds(shown_day, choice.name)
    return shown_day, choice, screenshot_data.owned_screenshots(session, user.id, start, end)


def day_bounds(day: date, zone: ZoneChoice) -> tuple[datetime, datetime]:
    """The UTC moments a local day of ``zone`` starts and ends."""
    return time_manager.local_day_bounds(day, zone.name)


def own_report(
    session: Session, principal: Principal, first_day: date, last_day: date, zone: str | None
) -> Report:
    """The person's tallies per local day over ``first_day..last_day``."""
    return team_report(session, first_day, last_day, zone, [own_user(session, principal)])


def own_devices(session: Session, principal: Principal) -> list[DeviceStatus]:
    """The person's devices with their last report."""
    return devices_of(session, [principal.user_id]).get(principal.user_id, [])


def delete_own_screenshot(context: ServerContext, principal: Principal, screenshot_id: int) -> str:
    """Delete one of the caller's screenshots inside the delete window; return its key.

    404 ``not_found`` when the id is not one of the caller's screenshots, 403 ``delete_not_allowed``
    outside the window (or with the window at 0). The image and its thumbnail leave the store, the
    row goes, the audit entry (kind ``owner``) stays; the activity minutes are untouched.
    """
    now = context.now()
    with context.database.session() as session:
        found = screenshot_data.find_screenshot(session, screenshot_id)
        if found is None or found[0].user_id != principal.user_id:
            raise RequestRefused(NOT_FOUND_MESSAGE, status=404, code="not_found")
        screenshot, username = found
        policy = policy_for(session, context, principal.user_id)
        if not policy.may_delete(screenshot.taken_at, now):
            raise RequestRefused(
                policy.delete_text if policy.delete_window_minutes <= 0
                else "this screenshot is older than the delete window: " + policy.delete_text,
                status=403, code="delete_not_allowed",
            )
        key = screenshot.key
        if not screenshot_data.record_deletion(
            session, screenshot, username, principal.username, now, kind=screenshot_data.KIND_OWNER
        ):
            raise RequestRefused(NOT_FOUND_MESSAGE, status=404, code="not_found")
        delete_with_thumbnail(context.object_store, key)
    logger.info("screenshot %s deleted by its person %s", screenshot_id, principal.username)
    return key
