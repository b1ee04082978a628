"""The sign-in API: password then the mailed code, resend, sign-out, who am I."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from server.context import services
from server.web import (
    bearer_token,
    client_address,
    current_principal,
    json_body,
    login_required,
    string_fields,
)

blueprint = Blueprint("auth", __name__)


@blueprint.post("/auth/login")
def login() -> Response:
    """Step 1: username and password; mails a code to the account's address."""
    username, password = string_fields(json_body(), "username", "password")
    issued = services().auth.login(username, password, client_address())
    return jsonify(
        {"challenge_id": issued.challenge_id, "sent_to": issued.sent_to,
         "expires_at": issued.expires_at.isoformat()}
    )


@blueprint.post("/auth/verify")
def verify() -> Response:
    """Step 2: the mailed code; answers the bearer token."""
    challenge_id, code = string_fields(json_body(), "challenge_id", "code")
    issued = services().auth.verify(challenge_id, code.strip())
    return jsonify(
        {"token": issued.token, "expires_at": issued.expires_at.isoformat(),
         "username": issued.username, "is_admin": issued.is_admin}
    )


@blueprint.post("/auth/resend")
def resend() -> Response:
    """Mail a new code for a pending sign-in."""
    (challenge_id,) = string_fields(json_body(), "challenge_id")
    issued = services().auth.resend(challenge_id)
    return jsonify({"sent_to": issued.sent_to, "expires_at": issued.expires_at.isoformat()})


@blueprint.post("/auth/logout")
@login_required
def logout() -> Response:
    """Revoke the caller's token."""
    services().auth.logout(bearer_token())
    return Response(status=204)


@blueprint.get("/auth/me")
@login_required
def me() -> Response:
    """The signed-in account and the key prefix its uploads go under."""
    principal = current_principal()
    return jsonify(
        {"username": principal.username, "email": principal.email, "is_admin": principal.is_admin,
         "expires_at": principal.token_expires_at.isoformat(),
         "upload_prefix": services().object_store.prefix}
    )
