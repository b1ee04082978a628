"""The activity API: the agent posts minute samples (and its upload backlog); users read them back."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, jsonify, request

from contract.errors import ConfigError, RequestRefused
from server.context import services
from server.db import activity_data, agents
from server.db.users import user_or_404
from server.web import current_principal, json_body, login_required

blueprint = Blueprint("activity", __name__)

ACTIVITY_DEFAULT_RANGE = timedelta(hours=24)
ACTIVITY_MAX_RANGE = timedelta(days=31)


def _query_datetime(name: str) -> datetime | None:
    """An ISO 8601 query parameter as UTC (a naive value is read as UTC); 400 when unparseable."""
    text = request.args.get(name)
    if text is None or text == "":
        return None
    # A "+" in an unencoded query string arrives as a space.
    if re.search(r" \d{2}:\d{2}$", text):
        text = f"{text[:-6]}+{text[-5:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError({name: "must be an ISO 8601 datetime, e.g. 2026-11-25T18:00:00+00:00"}) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@blueprint.post("/activity")
@login_required
def post_activity() -> Response:
    """Store a batch of minute samples (a resent minute replaces the stored one)."""
    principal = current_principal()
    context = services()
    payload = json_body()
    records = activity_data.parse_activity_batch(payload, context.now())
    backlog = agents.parse_agent_backlog(payload)
    with context.database.session() as session:
        activity_data.upsert_activity(session, principal.user_id, records, context.now())
        if backlog is not None:
            agents.save_agent_backlog(session, principal.user_id, backlog, context.now())
    return jsonify({"accepted": len(records)})


@blueprint.get("/api/activity")
@login_required
def get_activity() -> Response:
    """Samples between ``from`` and ``to`` (default the last 24 hours); admins may read anyone."""
    principal = current_principal()
    context = services()
    username = request.args.get("username") or None
    if not principal.is_admin and username not in (None, principal.username):
        message = "only administrators can read another user's activity"
        raise RequestRefused(message, status=403, code="forbidden")
    end = _query_datetime("to") or context.now()
    start = _query_datetime("from") or end - ACTIVITY_DEFAULT_RANGE
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
    return jsonify(
        {"from": start.isoformat(), "to": end.isoformat(),
         "samples": [{**record.to_json(), "username": name} for name, record in rows]}
    )
