"""``GET /health``: whether this node can reach its database and its object store, for load balancers."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify

from contract.errors import TransientError
from server.context import services
from server.stores.reachability import OK

logger = logging.getLogger(__name__)

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def health() -> Response:
    """200 ``{"status":"ok","database":"ok","storage":"ok"}``, or 503 naming what failed (no token needed)."""
    context = services()
    database = OK
    try:
        context.database.ping()
    except TransientError as exc:
        logger.warning("health: %s", exc)
        database = "unreachable"
    storage = context.storage_check()
    body: dict[str, object] = {
        "status": "ok" if database == OK and storage == OK else "unavailable",
        "database": database,
        "storage": storage,
    }
    failed = [name for name in ("database", "storage") if body[name] != OK]
    if failed:
        # The error shape every other refusal has, naming each part that failed.
        body["error"] = {"code": "unavailable", "message": f"not reachable: {', '.join(failed)}"}
    response = jsonify(body)
    response.status_code = 503 if failed else 200
    response.headers["Cache-Control"] = "no-store"
    return response
