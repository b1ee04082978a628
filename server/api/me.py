"""``/api/me/``: a person's own diary, screenshots and report as JSON, deleting and holding back captures.

Bearer token of any account (admin or not); every answer is about the caller only
(server/my_record.py). See docs/API.md "My record".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify

import time_manager
from contract.activity import MAX_FUTURE_SKEW
from contract.devices import DEFAULT_DEVICE_UID, device_id_error
from contract.errors import ConfigError
from server import my_record
from server.context import services
from server.db import screenshot_data
from server.db.models import Screenshot, ScreenshotDeletion
from server.reports.diary import DiaryDay
from server.reports.tallies import Tally, as_json
from server.stores.objectstore import ObjectStore
from server.web import (
    current_principal,
    day_parameter,
    json_body,
    login_required,
    range_parameters,
    zone_parameter,
)

blueprint = Blueprint("me_api", __name__, url_prefix="/api/me")

LINK_EXPIRY_SECONDS = 300
# A capture held back on the device may be reported this late (an agent that was offline for a while).
MAX_WITHHELD_AGE_DAYS = 30
WITHHELD_FIELDS = frozenset({"taken_at", "device_id"})


# --------------------------------------------------------------------------- JSON shapes
def tally_json(tally: Tally) -> dict[str, Any]:
    """A tally as the reports' JSON shows it."""
    return dict(as_json(tally))


def diary_json(result: DiaryDay, deletions: tuple[ScreenshotDeletion, ...]) -> dict[str, Any]:
    """The shape of ``/api/reports/diary``, each slot also listing its deleted and held-back captures."""
    by_slot = my_record.deletions_by_slot(result, deletions)
    return {
        "username": result.username, "date": result.day.isoformat(), "zone": result.zone.name,
        "zone_source": result.zone.source, "from": result.start.isoformat(), "to": result.end.isoformat(),
        "hours_in_day": result.hours_in_day, "total": tally_json(result.totals),
        "devices": [device.as_json() for device in result.devices],
        "slots": [
            {"start": slot.start.isoformat(), "local_start": slot.local_start.isoformat(),
             **tally_json(slot.tally), "screenshots": [shot.id for shot in slot.screenshots],
             "deleted": [my_record.deletion_json(entry) for entry in by_slot.get(slot.index, [])]}
            for slot in result.slots
        ],
    }


def own_screenshot_json(
    row: Screenshot, policy: my_record.Policy, object_store: ObjectStore, now: datetime
) -> dict[str, Any]:
    """One of the caller's screenshots with a short-lived image link and until when it may be deleted."""
    until = policy.deletable_until(row.taken_at)
    item: dict[str, Any] = {
        "id": row.id, "key": row.key, "taken_at": row.taken_at.isoformat(), "timezone": row.timezone,
        "blurred": row.blurred, "width": row.width, "height": row.height,
    }
    monitor = getattr(row, "monitor", None)
    if monitor is not None:
        item["monitor"] = monitor
    item |= {
        "size_bytes": row.size_bytes, "sha256": row.sha256, "uploaded_at": row.uploaded_at.isoformat(),
        "deletable_until": until.isoformat() if until is not None else None,
        "deletable": policy.may_delete(row.taken_at, now),
        "url": object_store.presign_get(row.key, now=now, expires_seconds=LINK_EXPIRY_SECONDS),
    }
    return item


# --------------------------------------------------------------------------- routes
@blueprint.get("/diary")
@login_required
def diary() -> Response:
    """The caller's diary day (``date``, ``tz``; default today in their own zone)."""
    principal = current_principal()
    context = services()
    with context.database.session() as session:
        result = my_record.own_diary(session, context, principal, day_parameter(), zone_parameter())
        return jsonify(diary_json(result, result.deletions))


@blueprint.get("/screenshots")
@login_required
def screenshots() -> Response:
    """The caller's screenshots of one local day, each with a link that expires after 5 minutes."""
    principal = current_principal()
    context = services()
    now = context.now()
    with context.database.session() as session:
        day, zone, rows = my_record.own_screenshots(
            session, principal, day_parameter(), zone_parameter(), now
        )
        policy = my_record.policy_for(session, context, principal.user_id)
        items = [own_screenshot_json(row, policy, context.object_store, now) for row in rows]
    return jsonify({
        "username": principal.username, "date": day.isoformat(), "zone": zone.name,
        "delete_window_minutes": policy.delete_window_minutes, "screenshots": items,
    })


@blueprint.get("/report")
@login_required
def report() -> Response:
    """The caller's tallies per local day for ``from``..``to`` (default this week)."""
    principal = current_principal()
    zone = zone_parameter()
    first_day, last_day = range_parameters(zone)
    with services().database.session() as session:
        result = my_record.own_report(session, principal, first_day, last_day, zone)
    row = result.users[0]
    return jsonify({
        "username": row.username, "from": first_day.isoformat(), "to": last_day.isoformat(),
        "zone": row.zone.name,
        "days": {day.isoformat(): tally_json(tally) for day, tally in sorted(row.days.items())},
        "total": tally_json(row.total),
    })


@blueprint.get("/policy")
@login_required
def policy() -> Response:
    """The delete window, upload delay and retention in force for the caller, in numbers and words."""
    principal = current_principal()
    context = services()
    with context.database.session() as session:
        current = my_record.policy_for(session, context, principal.user_id)
    return jsonify({
        "delete_window_minutes": current.delete_window_minutes,
        "upload_delay_seconds": current.upload_delay_seconds,
        "screenshot_retention_days": current.screenshot_retention_days,
        "activity_retention_days": current.activity_retention_days,
        "delete_text": current.delete_text, "retention_text": current.retention_text,
    })


@blueprint.delete("/screenshots/<int:screenshot_id>")
@login_required
def delete_screenshot(screenshot_id: int) -> tuple[str, int]:
    """Delete one of the caller's screenshots inside the delete window (204; 403 outside; 404 not theirs)."""
    my_record.delete_own_screenshot(services(), current_principal(), screenshot_id)
    return "", 204


def _withheld_body(body: dict[str, Any], now: datetime) -> tuple[datetime, str]:
    errors = {name: "unknown field" for name in body if name not in WITHHELD_FIELDS}
    taken_at: datetime | None = None
    raw = body.get("taken_at")
    if not isinstance(raw, str):
        errors["taken_at"] = "must be an ISO 8601 datetime with a UTC offset"
    else:
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            errors["taken_at"] = "must be an ISO 8601 datetime with a UTC offset"
        else:
            taken_at = time_manager.to_utc(parsed)
            if taken_at > now + MAX_FUTURE_SKEW:
                errors["taken_at"] = "is more than 5 minutes in the future"
            elif (now - taken_at).days >= MAX_WITHHELD_AGE_DAYS:
                errors["taken_at"] = f"is more than {MAX_WITHHELD_AGE_DAYS} days old"
    device_uid = body.get("device_id", DEFAULT_DEVICE_UID)
    if device_uid != DEFAULT_DEVICE_UID and device_id_error(device_uid) is not None:
        errors["device_id"] = f'must be 32 lowercase hex digits or "{DEFAULT_DEVICE_UID}"'
    if errors or taken_at is None:
        raise ConfigError(errors)
    return taken_at, str(device_uid)


@blueprint.post("/withheld")
@login_required
def withheld() -> tuple[str, int]:
    """Record that the caller deleted a capture on a device before upload (only the fact; 204).

    The same capture reported again (the agent retried) is recorded once.
    """
    principal = current_principal()
    context = services()
    now = context.now()
    taken_at, device_uid = _withheld_body(json_body(), now)
    with context.database.session() as session:
        screenshot_data.record_withheld_once(session, principal.username, taken_at, device_uid, now)
    return "", 204
