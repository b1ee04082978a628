"""The activity API: the agent posts minute samples (and its upload backlog); users read them back."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, jsonify, request

from contract.errors import ConfigError, RequestRefused
from server.context import services
from server.db import activity_data
from server.db.users import user_or_404
from server.web import current_principal, json_body, login_required

logger = logging.getLogger(__name__)

blueprint = Blueprint("activity", __name__)

ACTIVITY_DEFAULT_RANGE = timedelta(hours=24)
ACTIVITY_MAX_RANGE = timedelta(days=31)

# GET /api/activity: each device's minutes (with their device), or the minutes merged as reports show them.
VIEW_DEVICES = "devices"
VIEW_MERGED = "merged"


def _query_datetime(name: str) -> datetime | None:
    """An ISO 8601 query parameter as UTC (a naive value is read as UTC); 400 when unparseable."""
    text = request.args.get(name)
    if text is None or text == "":
        return None
    # A "+" in an unencoded query string arrives as a space.
    if re.search(r" \d{2}:\d{2}\Z", text):
        text = f"{text[:-6]}+{text[-5:]}"
    try:
        moment = datetime.fromisoformat(text)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except ValueError as exc:
        raise ConfigError({name: "must be an ISO 8601 datetime, e.g. 2026-11-25T18:00:00+00:00"}) from exc
    except OverflowError as exc:  # 0001-01-01T00:00:00+05:00 lies before year 1 in UTC
        raise ConfigError({name: "is out of range"}) from exc
    return moment


@blueprint.post("/activity")
@login_required
def post_activity() -> Response:
    """Store every valid sample of a batch under the sending device; list the refused ones by index."""
    principal = current_principal()
    context = services()
    batch = activity_data.parse_activity_batch(json_body(), context.now())
    with context.database.write_session() as session:
        activity_data.store_activity(session, principal.user_id, batch, context.now())
    if batch.refused:
        logger.info("activity of user %s: %d samples refused", principal.user_id, len(batch.refused))
    return jsonify(
        {"accepted": len(batch.samples), "refused": [refusal.to_json() for refusal in batch.refused]}
    )


@blueprint.get("/api/activity")
@login_required
def get_activity() -> Response:
    """Samples in ``from``..``to`` (default the last 24 hours), per device or merged; admins read anyone."""
    principal = current_principal()
    context = services()
    username = request.args.get("username") or None
    if not principal.is_admin and username not in (None, principal.username):
        message = "only administrators can read another user's activity"
        raise RequestRefused(message, status=403, code="forbidden")
    view = request.args.get("view", VIEW_DEVICES)
    if view not in (VIEW_DEVICES, VIEW_MERGED):
        raise ConfigError({"view": f"must be {VIEW_DEVICES} or {VIEW_MERGED}"})
    end = _query_datetime("to") or context.now()
    try:
        start = _query_datetime("from") or end - ACTIVITY_DEFAULT_RANGE
    except OverflowError as exc:  # the default start before year 1
        raise ConfigError({"to": "is out of range"}) from exc
    if start >= end:
        raise ConfigError({"from": "must be before to"})
    if end - start > ACTIVITY_MAX_RANGE:
        raise ConfigError({"from": "the range may span at most 31 days"})
    with context.database.session() as session:
        if principal.is_admin and username is None:
            user_id = None
        elif username is None or username == principal.username:
            user_id = principal.user_id
        else:
            user_id = user_or_404(session, username).id
        rows = activity_data.activity_between(session, user_id, start, end)
    if view == VIEW_MERGED:
        samples = [
            {**record.to_json(), "username": name} for name, record in activity_data.merged_between(rows)
        ]
    else:
        samples = [
            {**row.sample.to_json(), "username": row.username,
             "device": {"id": row.device_uid, "name": row.device_name}}
            for row in rows
        ]
    return jsonify({"from": start.isoformat(), "to": end.isoformat(), "view": view, "samples": samples})
