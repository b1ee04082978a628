"""The screenshot API: sign uploads, receive them (local store), register them, list and open them.

Thin routes over the object stores and the signing rules (server/stores/)
and the ``screenshots`` table; see docs/API.md.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file
from sqlalchemy import select

import time_manager
from contract.devices import device_id_error
from contract.errors import ConfigError, RequestRefused
from contract.screenshots import DEFAULT_MAX_UPLOAD_BYTES, check_key_owner, validate_registration
from server.context import services
from server.db import agents, models, screenshot_data
from server.db.users import user_or_404
from server.reports.zones import check_report_day
from server.stores.local import LocalObjectStore
from server.stores.objectstore import ObjectStore
from server.stores.signing import sign_upload
from server.web import admin_required, current_principal, json_body, login_required, zone_parameter

blueprint = Blueprint("screenshots", __name__)

LINK_EXPIRY_SECONDS = 300


def _max_upload_bytes() -> int:
    raw = services().settings.get("VINOVA_MAX_UPLOAD_BYTES", str(DEFAULT_MAX_UPLOAD_BYTES))
    return int(raw) if raw.isdigit() else DEFAULT_MAX_UPLOAD_BYTES


def _local_store() -> LocalObjectStore:
    object_store = services().object_store
    if not isinstance(object_store, LocalObjectStore):
        raise RequestRefused("this server keeps screenshots in S3", status=404, code="not_found")
    return object_store


def screenshot_json(
    row: models.Screenshot, username: str, object_store: ObjectStore, now: datetime
) -> dict[str, Any]:
    """One screenshot as the API shows it, with a short-lived link to the image."""
    return {
        "key": row.key,
        "username": username,
        "taken_at": row.taken_at.isoformat(),
        "timezone": row.timezone,
        "blurred": row.blurred,
        "width": row.width,
        "height": row.height,
        "monitor": row.monitor,
        "size_bytes": row.size_bytes,
        "sha256": row.sha256,
        "uploaded_at": row.uploaded_at.isoformat(),
        "url": object_store.presign_get(row.key, now=now, expires_seconds=LINK_EXPIRY_SECONDS),
    }


# --------------------------------------------------------------------------- agent calls
@blueprint.post("/uploads/sign")
@login_required
def sign() -> Response:
    """A presigned PUT for one capture under the caller's own prefix."""
    principal = current_principal()
    body = json_body()
    context = services()
    object_store = context.object_store
    device_id = body.get("device_id")
    if device_id is not None and device_id_error(device_id) is not None:
        raise RequestRefused(
            "device_id must be 32 lowercase hex digits", status=400, code="validation_error",
            field="device_id",
        )
    # The key's rules first (a malformed key never reaches the database).
    check_key_owner(body.get("key"), prefix=object_store.prefix, username=principal.username)
    with context.database.read_session() as session:
        registered = screenshot_data.screenshot_id_by_key(session, body["key"])
    if registered is not None:
        # A registered capture is never replaced (issue 10, item 8); the agent counts it as delivered.
        raise RequestRefused(
            "this screenshot is already registered; it cannot be uploaded again", status=409,
            code="already_registered", field="key",
        )
    signed = sign_upload(
        object_store,
        username=principal.username,
        prefix=object_store.prefix,
        key=body.get("key"),
        content_type=body.get("content_type"),
        size_bytes=body.get("size_bytes"),
        sha256=body.get("sha256"),
        now=services().now(),
        max_bytes=_max_upload_bytes(),
        base_url=request.host_url,
    )
    return jsonify(signed.to_json())


@blueprint.put("/uploads/local/<path:key>")
def receive_local(key: str) -> tuple[Response, int]:
    """The local store's upload target: the signed URL is the credential."""
    local = _local_store()
    request.max_content_length = _max_upload_bytes()
    size = local.receive_local_put(
        key,
        request.args,
        content_type=request.content_type,
        content_length=request.content_length,
        body=request.stream,
        now=services().now(),
    )
    return jsonify({"key": key, "size_bytes": size}), 201


@blueprint.get("/uploads/local/<path:key>")
def open_local(key: str) -> Response:
    """Serve one stored screenshot to the holder of a signed, short-lived link."""
    path = _local_store().verify_local_get(key, request.args, now=services().now())
    response = send_file(path, mimetype="image/jpeg", max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blueprint.post("/screenshots")
@login_required
def register() -> tuple[Response, int]:
    """Record an uploaded capture; the same key again is a no-op (200)."""
    principal = current_principal()
    context = services()
    registration = validate_registration(
        json_body(), username=principal.username, prefix=context.object_store.prefix,
        max_bytes=_max_upload_bytes(),
    )
    # One look at the store (one HEAD on S3) for both the size and the checksum.
    stored = context.object_store.stored_object(registration.key)
    if stored is None:
        raise RequestRefused("upload the image before registering it", status=409, code="not_uploaded",
                             field="key")
    if stored.size_bytes != registration.size_bytes:
        raise RequestRefused("size_bytes does not match the stored object", status=400,
                             code="validation_error", field="size_bytes")
    with context.database.read_session() as session:
        existing = screenshot_data.screenshot_id_by_key(session, registration.key)
    if existing is not None:
        return jsonify({"id": existing, "key": registration.key, "created": False}), 200
    if stored.sha256 is not None and stored.sha256 != registration.sha256:
        raise RequestRefused("sha256 does not match the stored object", status=400,
                             code="validation_error", field="sha256")
    with context.database.session() as session:
        device = None
        if registration.device_id is not None:
            device = agents.device_id_of(session, principal.user_id, registration.device_id)
        # The id lets the agent delete the capture later (DELETE /api/me/screenshots/<id>).
        screenshot_id = screenshot_data.register_screenshot(
            session, principal.user_id, registration, device, context.now()
        )
        created = screenshot_id is not None
        if screenshot_id is None:  # a racing call registered it first
            screenshot_id = screenshot_data.screenshot_id_by_key(session, registration.key)
    # No thumbnail here: the first view makes it (server/stores/thumbnails.py).
    answer = {"id": screenshot_id, "key": registration.key, "created": created}
    return jsonify(answer), 201 if created else 200


# --------------------------------------------------------------------------- admin calls
def _day_range(day_text: str | None, zone: str, now: datetime) -> tuple[datetime, datetime, str]:
    if day_text:
        try:
            day = date.fromisoformat(day_text)
        except ValueError as exc:
            raise ConfigError({"date": "must be a date like 2026-11-25"}) from exc
        check_report_day(day, "date")
    else:
        day = time_manager.to_local(now, zone).date()
    start, end = time_manager.local_day_bounds(day, zone)
    return start, end, zone


@blueprint.get("/api/screenshots")
@admin_required
def list_screenshots() -> Response:
    """An admin's list of one user's captures on one day (``tz`` decides the day; default UTC)."""
    context = services()
    username = request.args.get("username", "")
    if not username:
        raise ConfigError({"username": "is required"})
    start, end, zone = _day_range(request.args.get("date"), zone_parameter() or "UTC", context.now())
    now = context.now()
    with context.database.session() as session:
        user_id = user_or_404(session, username).id
        rows = session.scalars(
            select(models.Screenshot)
            .where(models.Screenshot.user_id == user_id)
            .where(models.Screenshot.taken_at >= start, models.Screenshot.taken_at < end)
            .order_by(models.Screenshot.taken_at, models.Screenshot.monitor)
        ).all()
        items = [screenshot_json(row, username, context.object_store, now) for row in rows]
    return jsonify({"username": username, "zone": zone, "from": start.isoformat(), "to": end.isoformat(),
                    "screenshots": items})
