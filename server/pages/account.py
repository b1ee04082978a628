"""``/account``: every signed-in person's own sign-in settings — password, authenticator app, sessions.

Same sign-in and session cookie as ``/admin`` and ``/me``; CSRF on every form. The QR code is an
inline SVG drawn here (server/totp.qr_svg), so the page needs no script. Recovery codes are shown
once, in the answer to the confirming form, and never again. While the admins' rule "use an
authenticator app" is on, an administrator without one is sent here from every admin page.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from markupsafe import Markup
from werkzeug.wrappers.response import Response as BaseResponse

from auth_manager import Principal
from contract.errors import AuthError, ConfigError, RequestRefused
from server import account_sessions
from server.context import services
from server.pages import admin as admin_pages
from server.totp import TotpSetup, qr_svg
from server.web import (
    ADMIN_ONLY,
    client_address,
    current_principal,
    page_login_required,
    session_token_digest,
)

logger = logging.getLogger(__name__)

blueprint = Blueprint("account", __name__, url_prefix="/account")

# The admin pages an administrator without an app may still reach while the rule is on.
ADMIN_BLUEPRINTS = {"admin", "diary", "people"}
OPEN_ENDPOINTS = {"admin.login", "admin.verify", "admin.resend", "admin.logout"}


@blueprint.before_request
def _check_csrf() -> None:
    admin_pages.check_csrf()


@blueprint.before_app_request
def _send_admins_without_app_here() -> BaseResponse | None:
    """While the rule is on, an administrator without an authenticator app sets one up first."""
    if request.blueprint not in ADMIN_BLUEPRINTS or request.endpoint in OPEN_ENDPOINTS:
        return None
    digest = session_token_digest()
    if digest is None:
        return None
    totp = services().auth.totp
    if not totp.admins_must_use_app():
        return None
    try:
        principal = services().auth.authenticate_digest(digest)
    except AuthError:
        return None
    if not principal.is_admin or totp.is_enabled(principal.user_id):
        return None
    flash("Administrators must sign in with an authenticator app: set yours up here first.")
    return redirect(url_for("account.page"))


def _page(principal: Principal, *, errors: dict[str, str] | None = None,
          recovery_codes: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    context = services()
    totp = context.auth.totp
    enabled = totp.is_enabled(principal.user_id)
    pending: TotpSetup | None = None if enabled else totp.pending_setup(principal.user_id)
    sessions = account_sessions.list_sessions(
        context.database, principal.user_id, context.now(), session_token_digest()
    )
    page: dict[str, Any] = {
        "principal": principal, "errors": errors or {}, "totp_enabled": enabled,
        "recovery_left": totp.recovery_codes_left(principal.user_id) if enabled else 0,
        "pending": pending, "qr_svg": Markup(qr_svg(pending.otpauth_uri)) if pending else None,  # noqa: S704
        "recovery_codes": recovery_codes, "sessions": sessions,
        "admins_must_use_app": totp.admins_must_use_app() if principal.is_admin else False,
        "home_url": url_for("admin.index") if principal.is_admin else _my_record_url(),
    }
    return render_template("account.html", **page), status


def _my_record_url() -> str | None:
    return url_for("me.diary") if "me" in current_app.blueprints else None


@blueprint.get("")
@page_login_required
def page() -> tuple[str, int]:
    """The account page."""
    return _page(current_principal())


@blueprint.post("/password")
@page_login_required
def change_password() -> BaseResponse | tuple[str, int]:
    """Change the password (the current one is required); the person's other sessions end."""
    principal = current_principal()
    new_password = request.form.get("new_password", "")
    if new_password != request.form.get("repeat_password", ""):
        return _page(principal, errors={"repeat_password": "does not match the new password"}, status=400)
    try:
        services().auth.change_password(
            principal.user_id, request.form.get("current_password", ""), new_password,
            client_address=client_address(), keep_token_digest=session_token_digest(),
        )
    except ConfigError as exc:
        return _page(principal, errors=exc.errors, status=400)
    except AuthError as exc:  # too many wrong passwords
        return _page(principal, errors={"current_password": str(exc)}, status=429)
    flash("Your password is changed. Your other sessions were signed out.")
    return redirect(url_for("account.page"))


@blueprint.post("/totp/setup")
@page_login_required
def totp_setup() -> BaseResponse | tuple[str, int]:
    """Start setting up an authenticator app: a new secret, shown as a QR code and as text."""
    principal = current_principal()
    try:
        services().auth.totp.begin_setup(principal.user_id)
    except RequestRefused as exc:
        return _page(principal, errors={"totp": str(exc)}, status=exc.status)
    return redirect(url_for("account.page") + "#totp")


@blueprint.post("/totp/confirm")
@page_login_required
def totp_confirm() -> tuple[str, int]:
    """Turn the app on with its current code; the recovery codes are shown in this answer only."""
    principal = current_principal()
    try:
        codes = services().auth.totp.confirm(principal.user_id, request.form.get("code", ""))
    except ConfigError as exc:
        return _page(principal, errors=exc.errors, status=400)
    except RequestRefused as exc:
        return _page(principal, errors={"totp": str(exc)}, status=exc.status)
    return _page(principal, recovery_codes=codes)


@blueprint.post("/totp/off")
@page_login_required
def totp_off() -> BaseResponse | tuple[str, int]:
    """Turn the app off (the password is required); sign-in codes are mailed again."""
    principal = current_principal()
    try:
        services().auth.turn_off_app(principal.user_id, request.form.get("password", ""), client_address())
    except ConfigError as exc:
        message = exc.errors.get("password", "is not valid")
        return _page(principal, errors={"totp_password": message}, status=400)
    except AuthError as exc:
        return _page(principal, errors={"totp_password": str(exc)}, status=429)
    flash("The authenticator app is off. Sign-in codes are mailed to you again.")
    return redirect(url_for("account.page"))


@blueprint.post("/sessions/<ref>/sign-out")
@page_login_required
def sign_out_session(ref: str) -> BaseResponse | tuple[str, int]:
    """End one of the person's sessions (this one too, which then lands on the sign-in page)."""
    principal = current_principal()
    context = services()
    current = next((row for row in account_sessions.list_sessions(
        context.database, principal.user_id, context.now(), session_token_digest()) if row.current), None)
    if not account_sessions.sign_out(context.database, principal.user_id, ref, context.now()):
        return _page(principal, errors={"sessions": "that session has already ended"}, status=404)
    if current is not None and current.ref == ref:
        session.clear()
        return redirect(url_for("admin.login"))
    flash("That session is signed out.")
    return redirect(url_for("account.page") + "#sessions")


@blueprint.post("/sessions/sign-out-everywhere")
@page_login_required
def sign_out_everywhere() -> BaseResponse:
    """End every session of the person, this one included."""
    context = services()
    account_sessions.sign_out_everywhere(context.database, current_principal().user_id, context.now())
    session.clear()
    return redirect(url_for("admin.login"))


@blueprint.post("/admin-rule")
@page_login_required
def admin_rule() -> BaseResponse | tuple[str, int]:
    """An administrator turns the rule "administrators use an authenticator app" on or off."""
    principal = current_principal()
    if not principal.is_admin:
        return _page(principal, errors={"admin_rule": ADMIN_ONLY}, status=403)
    enabled = request.form.get("require_admin_totp") == "on"
    services().auth.totp.set_admins_must_use_app(enabled, principal.username)
    flash("Administrators must now use an authenticator app." if enabled
          else "Administrators may sign in with mailed codes again.")
    return redirect(url_for("account.page") + "#admin-rule")
