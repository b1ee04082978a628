"""The config API: the agent's effective config (with an ETag), global and per-user config, the audit log."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from contract.config_schema import validate_config, validate_overrides
from server.context import services
from server.db import config_data, models
from server.db.users import user_or_404
from server.web import admin_required, current_principal, json_body, login_required

blueprint = Blueprint("config", __name__)

AUDIT_DEFAULT_LIMIT = 200
AUDIT_MAX_LIMIT = 5000


def config_etag(config: Mapping[str, Any], version: int) -> str:
    """A strong validator that changes whenever the effective config or the version changes."""
    canonical = json.dumps({"config": dict(config), "version": version}, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def _global_payload(session: Session) -> Response:
    return jsonify(
        {"config": config_data.global_config(session), "version": config_data.config_version(session)}
    )


def _user_payload(session: Session, user: models.User) -> Response:
    return jsonify(
        {"overrides": config_data.user_overrides(session, user.id),
         "effective": config_data.effective_config(session, user.id),
         "version": config_data.config_version(session)}
    )


@blueprint.get("/get-config")
@login_required
def get_config() -> Response:
    """The caller's effective config; 304 when ``If-None-Match`` names the current ETag."""
    principal = current_principal()
    context = services()
    # The token check read the config version: a cached config of that version needs no read at all;
    # a miss reads the config after the version, so at least as new (reads only, each standing alone).
    version = principal.config_version
    config = context.config_cache.cached(principal.user_id, version)
    if config is None:
        with context.database.read_session() as session:
            config, version = context.config_cache.lookup(session, principal.user_id, version)
    etag = config_etag(config, version)
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = jsonify({**config, "version": version})
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@blueprint.get("/api/config")
@admin_required
def get_global_config() -> Response:
    """The global defaults and the config version."""
    with services().database.session() as session:
        return _global_payload(session)


@blueprint.put("/api/config")
@admin_required
def put_global_config() -> Response:
    """Change some global defaults (audited)."""
    changes = validate_config(json_body(), partial=True)
    context = services()
    with context.database.session() as session:
        config_data.update_global_config(session, current_principal().username, changes, context.now())
        return _global_payload(session)


@blueprint.get("/api/users/<username>/config")
@admin_required
def get_user_config(username: str) -> Response:
    """One user's overrides and effective config."""
    with services().database.session() as session:
        return _user_payload(session, user_or_404(session, username))


@blueprint.put("/api/users/<username>/config")
@admin_required
def put_user_config(username: str) -> Response:
    """Replace some of one user's overrides (null removes one; audited)."""
    changes = validate_overrides(json_body())
    context = services()
    with context.database.session() as session:
        user = user_or_404(session, username)
        config_data.update_user_overrides(session, current_principal().username, user, changes, context.now())
        return _user_payload(session, user)


@blueprint.get("/api/config/audit")
@admin_required
def get_config_audit() -> Response:
    """The config audit log, newest first (``limit``, default 200)."""
    limit = request.args.get("limit", type=int) or AUDIT_DEFAULT_LIMIT
    with services().database.session() as session:
        entries = config_data.audit_entries(session, max(1, min(limit, AUDIT_MAX_LIMIT)))
    return jsonify({"entries": [entry.as_dict() for entry in entries]})
