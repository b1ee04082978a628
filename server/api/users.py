"""People for scripts: list, invite, change (email, admin, enabled), resend an invitation, delete."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from contract.errors import ConfigError
from server import people
from server.context import services
from server.web import admin_required, current_principal, json_body, string_fields

blueprint = Blueprint("users", __name__)

PATCH_FIELDS = ("email", "is_admin", "is_enabled")


@blueprint.get("/api/users")
@admin_required
def get_users() -> Response:
    """Everyone with role, status, devices, last seen and sign-in method."""
    return jsonify({"users": [person.as_json() for person in people.list_people(services())]})


@blueprint.get("/api/users/<username>")
@admin_required
def get_user(username: str) -> Response:
    """One person."""
    return jsonify({"user": people.find_person(services(), username).as_json()})


def _flag(payload: dict[str, Any], name: str) -> bool:
    value = payload.get(name, False)
    if not isinstance(value, bool):
        raise ConfigError({name: "must be true or false"})
    return value


@blueprint.post("/api/users")
@admin_required
def invite_user() -> tuple[Response, int]:
    """Invite someone: the account is made and a one-time link (48 h) is mailed to choose a password."""
    payload = json_body()
    username, email = string_fields(payload, "username", "email")
    is_admin = _flag(payload, "is_admin")
    context = services()
    invitation = people.invite(
        context, current_principal().username, username.strip(), email.strip(), is_admin,
        people.link_base(context, request.host_url),
    )
    body = {"user": people.find_person(context, invitation.username).as_json(),
            "invitation_expires_at": invitation.expires_at.isoformat()}
    return jsonify(body), 201


@blueprint.post("/api/users/<username>/invitation")
@admin_required
def resend_invitation(username: str) -> Response:
    """Mail a new invitation link (the earlier one stops working)."""
    context = services()
    invitation = people.resend_invitation(
        context, current_principal().username, username, people.link_base(context, request.host_url)
    )
    return jsonify({"invitation_expires_at": invitation.expires_at.isoformat()})


@blueprint.patch("/api/users/<username>")
@admin_required
def change_user(username: str) -> Response:
    """Change ``is_enabled``, ``is_admin`` and/or ``email`` (a new address confirms through a mailed link)."""
    payload = json_body()
    errors = {name: "is not a field that can be changed" for name in payload if name not in PATCH_FIELDS}
    for name in ("is_admin", "is_enabled"):
        if name in payload and not isinstance(payload[name], bool):
            errors[name] = "must be true or false"
    if "email" in payload and not isinstance(payload["email"], str):
        errors["email"] = "must be a string"
    if not payload:
        errors["body"] = f"give at least one of {', '.join(PATCH_FIELDS)}"
    if errors:
        raise ConfigError(errors)
    context = services()
    actor = current_principal().username
    people.find_person(context, username)  # 404 before anything changes
    answer: dict[str, Any] = {}
    if "is_enabled" in payload:
        people.set_enabled(context, actor, username, payload["is_enabled"])
    if "is_admin" in payload:
        people.set_admin(context, actor, username, payload["is_admin"])
    if "email" in payload:
        expires_at = people.request_email_change(
            context, actor, username, payload["email"].strip(), people.link_base(context, request.host_url)
        )
        answer["email_confirmation_expires_at"] = expires_at.isoformat()
    answer["user"] = people.find_person(context, username).as_json()
    return jsonify(answer)


@blueprint.delete("/api/users/<username>")
@admin_required
def delete_user(username: str) -> Response:
    """Delete the person and all their data; ``confirm`` (body or query) must repeat the username."""
    confirm: object = request.args.get("confirm")
    if confirm is None and request.get_data(cache=True):
        confirm = json_body().get("confirm")
    deleted = people.delete_person(services(), current_principal().username, username, confirm)
    return jsonify({"deleted": deleted.username, "screenshots_deleted": deleted.screenshots})
