"""The sign-in API: password then a code (mailed, or the authenticator app's), resend, sign-out, who am I.

Also the authenticator app of the signed-in account: ``POST /auth/totp/setup``, ``POST /auth/totp/confirm``
and ``DELETE /auth/totp`` (docs/API.md, "Authenticator app").
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from contract.errors import ConfigError
from server.context import services
from server.tokens import MAX_DEVICE_NAME_LENGTH
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
    """Step 1: username and password; mails a code, or (``"method": "totp"``) awaits the app's code."""
    username, password = string_fields(json_body(), "username", "password")
    issued = services().auth.login(username, password, client_address())
    return jsonify(
        {"challenge_id": issued.challenge_id, "method": issued.method, "sent_to": issued.sent_to,
         "expires_at": issued.expires_at.isoformat()}
    )


def _device_name(payload: dict[str, Any]) -> str:
    """The optional ``device_name`` of the body, else the client's User-Agent (what /account lists)."""
    name = payload.get("device_name")
    if name is None:
        return request.headers.get("User-Agent", "")[:MAX_DEVICE_NAME_LENGTH]
    if not isinstance(name, str) or len(name) > MAX_DEVICE_NAME_LENGTH:
        raise ConfigError({"device_name": f"must be text of at most {MAX_DEVICE_NAME_LENGTH} characters"})
    return name


@blueprint.post("/auth/verify")
def verify() -> Response:
    """Step 2: the mailed code, the app's code or a recovery code; answers the bearer token."""
    payload = json_body()
    challenge_id, code = string_fields(payload, "challenge_id", "code")
    issued = services().auth.verify(
        challenge_id, code.strip(), device_name=_device_name(payload), client_address=client_address()
    )
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
         "upload_prefix": services().object_store.prefix,
         "totp_enabled": services().auth.totp.is_enabled(principal.user_id)}
    )


# --------------------------------------------------------------------------- authenticator app
@blueprint.post("/auth/totp/setup")
@login_required
def totp_setup() -> Response:
    """A new secret for the caller's authenticator app (on only after a code confirms it)."""
    setup = services().auth.totp.begin_setup(current_principal().user_id)
    return jsonify({"secret": setup.secret, "otpauth_uri": setup.otpauth_uri})


@blueprint.post("/auth/totp/confirm")
@login_required
def totp_confirm() -> Response:
    """Turn the app on with a current code; answers the 10 single-use recovery codes (shown once)."""
    (code,) = string_fields(json_body(), "code")
    codes = services().auth.totp.confirm(current_principal().user_id, code)
    return jsonify({"recovery_codes": codes})


@blueprint.delete("/auth/totp")
@login_required
def totp_disable() -> Response:
    """Turn the app off; needs the account's password."""
    (password,) = string_fields(json_body(), "password")
    services().auth.turn_off_app(current_principal().user_id, password, client_address())
    return Response(status=204)
