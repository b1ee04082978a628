"""The account list for administrators (accounts are made with the CLI, server/cli.py)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from server.context import services
from server.web import admin_required

blueprint = Blueprint("users", __name__)


@blueprint.get("/api/users")
@admin_required
def get_users() -> Response:
    """Every account with its flags."""
    users = services().auth.list_users()
    return jsonify(
        {"users": [
            {"username": user.username, "email": user.email, "is_admin": user.is_admin,
             "is_enabled": user.is_enabled, "created_at": user.created_at.isoformat()}
            for user in users
        ]}
    )
