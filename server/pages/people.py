"""The People page (``/admin/users``): everyone, invite, enable / disable, admin rights, email, delete.

Each person's config overrides stay on ``/admin/users/<username>`` (server/pages/admin.py), linked
from here; that page also carries the email change and the deletion with its typed confirmation.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response as BaseResponse

from contract.errors import ConfigError, RequestRefused
from server import people
from server.context import services
from server.pages.admin import check_csrf
from server.web import admin_page_required, current_principal

blueprint = Blueprint("people", __name__, url_prefix="/admin/users")


@blueprint.before_request
def _check_csrf() -> None:
    check_csrf()


def _page(errors: dict[str, str], form: dict[str, str], status: int = 200) -> tuple[str, int]:
    context = services()
    page = render_template(
        "admin_people.html", people=people.list_people(context), audit=people.recent_audit(context, 30),
        errors=errors, form=form, principal=current_principal(),
    )
    return page, status


@blueprint.get("")
@admin_page_required
def people_page() -> tuple[str, int]:
    """Everyone, with the invitation form."""
    return _page({}, {})


@blueprint.post("")
@admin_page_required
def invite() -> BaseResponse | tuple[str, int]:
    """Invite someone from the form; errors are shown beside each field."""
    username = request.form.get("username", "").strip()
    email = request.form.get("email", "").strip()
    is_admin = request.form.get("is_admin") == "on"
    form = {"username": username, "email": email, "is_admin": "on" if is_admin else ""}
    context = services()
    try:
        invitation = people.invite(
            context, current_principal().username, username, email, is_admin,
            people.link_base(context, request.host_url),
        )
    except ConfigError as exc:
        return _page(exc.errors, form, 400)
    except RequestRefused as exc:
        return _page(exc.fields or {"username": str(exc)}, form, exc.status)
    flash(f"Invitation mailed to {invitation.email}; the link works for 48 hours.")
    return redirect(url_for("people.people_page"))


def _act(username: str, action: str) -> str:
    context = services()
    actor = current_principal().username
    base_url = people.link_base(context, request.host_url)
    if action == "disable":
        people.set_enabled(context, actor, username, False)
        return f"{username} is disabled and signed out everywhere."
    if action == "enable":
        people.set_enabled(context, actor, username, True)
        return f"{username} is enabled again (they sign in anew)."
    if action == "grant-admin":
        people.set_admin(context, actor, username, True)
        return f"{username} is now an administrator."
    if action == "revoke-admin":
        people.set_admin(context, actor, username, False)
        return f"{username} is no longer an administrator."
    if action == "resend":
        invitation = people.resend_invitation(context, actor, username, base_url)
        return f"A new invitation is on its way to {invitation.email}."
    if action == "email":
        new_email = request.form.get("email", "").strip()
        people.request_email_change(context, actor, username, new_email, base_url)
        return f"A confirmation link went to {new_email}; the address changes once it is followed."
    raise RequestRefused(f"unknown action {action!r}", status=404, code="not_found")


@blueprint.post("/<username>/<action>")
@admin_page_required
def act(username: str, action: str) -> BaseResponse | tuple[str, int]:
    """One button of a person's row (or the email form of their page); the People page answers."""
    if action == "delete":
        return _delete(username)
    try:
        message = _act(username, action)
    except ConfigError as exc:
        flash(f"Not changed: {'; '.join(f'{k} {v}' for k, v in exc.errors.items())}.")
        return redirect(url_for("admin.user_config", username=username))
    except RequestRefused as exc:
        if exc.status == 404:
            raise
        return _page({"action": f"{username}: {exc}"}, {}, exc.status)
    flash(message)
    return redirect(url_for("people.people_page"))


def _delete(username: str) -> BaseResponse | tuple[str, int]:
    try:
        deleted = people.delete_person(
            services(), current_principal().username, username, request.form.get("confirm", "")
        )
    except ConfigError as exc:
        flash(f"Not deleted: {exc.errors['confirm']}.")
        return redirect(url_for("admin.user_config", username=username))
    except RequestRefused as exc:
        if exc.status == 404:
            raise
        return _page({"action": f"{username}: {exc}"}, {}, exc.status)
    flash(f"{username} and their data ({deleted.screenshots} screenshots) are deleted.")
    return redirect(url_for("people.people_page"))
