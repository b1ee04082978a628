"""``POST /auth/password-reset``: mail a one-time link to choose a new password (always 202, same body)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from contract.errors import ConfigError
from server import mailed_links, people
from server.context import services
from server.web import client_address, json_body

blueprint = Blueprint("password_reset", __name__)


@blueprint.post("/auth/password-reset")
def request_reset() -> tuple[Response, int]:
    """``{"username"}`` or ``{"email"}`` → 202 whether or not an account matches."""
    payload = json_body()
    username, email = payload.get("username"), payload.get("email")
    if username is None and email is None:
        raise ConfigError({"username": "give a username or an email address"})
    for name, value in (("username", username), ("email", email)):
        if value is not None and not isinstance(value, str):
            raise ConfigError({name: "must be a string"})
    context = services()
    mailed_links.request_password_reset(
        context, username=username if isinstance(username, str) else None,
        email=email if username is None and isinstance(email, str) else None,
        client_address=client_address(), base_url=people.link_base(context, request.host_url, anonymous=True),
    )
    return jsonify({"status": "accepted", "message": mailed_links.RESET_ANSWER}), 202
