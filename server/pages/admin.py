"""The ``/admin`` web pages: sign-in with password then the emailed code, config forms, the audit log.

The browser holds only an opaque session id (server/web_sessions.py); the server-side session keeps
the digest of a bearer token, so revocation, expiry and disabled accounts apply as for the API.
Every form carries a per-session CSRF token, replaced at sign-in.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers.response import Response as BaseResponse

from auth_manager import Principal, token_digest
from contract.config_schema import (
    SCHEMA,
    SCHEMA_BY_NAME,
    parse_form_value,
    validate_config,
    validate_overrides,
)
from contract.errors import AuthError, ConfigError, TransientError
from server.context import services
from server.db import config_data
from server.db.users import user_or_404
from server.web import (
    TOKEN_DIGEST_KEY,
    admin_page_required,
    client_address,
    current_principal,
    session_token_digest,
)
from server.web_sessions import USER_ID_KEY, ServerSession

blueprint = Blueprint("admin", __name__, url_prefix="/admin")

CSRF_FIELD = "csrf_token"


def csrf_token() -> str:
    """This session's CSRF token (created on first use)."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


@blueprint.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token}


@blueprint.before_request
def _check_csrf() -> None:
    check_csrf()


def check_csrf() -> None:
    """Refuse (400) a POST whose form lacks this session's CSRF token; other methods pass."""
    if request.method != "POST":
        return
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, sent):
        abort(400, description="the form's CSRF token is missing or wrong; reload the page")


def _field_rows(values: dict[str, Any], errors: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"spec": spec, "value": values.get(spec.name), "error": errors.get(spec.name)} for spec in SCHEMA
    ]


# --------------------------------------------------------------------------- sign-in
@blueprint.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | tuple[str, int] | str:
    """Step 1: username and password; mails the code."""
    if request.method == "GET":
        return render_template("admin_login.html", error=None, username="")
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    try:
        issued = services().auth.login(username, password, client_address())
    except AuthError as exc:
        status = 429 if exc.code == "too_many_attempts" else 401
        return render_template("admin_login.html", error=str(exc), username=username), status
    except TransientError:
        return render_template(
            "admin_login.html", error="the sign-in mail could not be sent; try again later", username=username
        ), 503
    session["challenge_id"] = issued.challenge_id
    session["sent_to"] = issued.sent_to
    session["sign_in_method"] = issued.method  # "totp": the verify page asks for the app's code
    return redirect(url_for("admin.verify"))


@blueprint.route("/verify", methods=["GET", "POST"])
def verify() -> BaseResponse | tuple[str, int] | str:
    """Step 2: the emailed code; on success the session holds a token."""
    challenge_id = session.get("challenge_id")
    if not isinstance(challenge_id, str):
        return redirect(url_for("admin.login"))
    sent_to = session.get("sent_to", "")
    method = session.get("sign_in_method", "email")
    if request.method == "GET":
        return render_template("admin_verify.html", sent_to=sent_to, method=method, error=None)
    try:
        issued = services().auth.verify(
            challenge_id, request.form.get("code", "").strip(), client_address=client_address(), kind="web",
            device_name=request.headers.get("User-Agent", "")[:128],
        )
    except AuthError as exc:
        if exc.code in {"challenge_locked", "code_used"}:
            session.pop("challenge_id", None)
        status = 429 if exc.code in {"challenge_locked", "too_many_attempts"} else 401
        return render_template("admin_verify.html", sent_to=sent_to, method=method, error=str(exc)), status
    # A new session id and a new CSRF token at sign-in (no fixation); only the token's digest is kept.
    session.clear()
    if isinstance(session, ServerSession):
        session.rotate()
    principal = services().auth.authenticate(issued.token)
    session[TOKEN_DIGEST_KEY] = token_digest(issued.token)
    session[USER_ID_KEY] = principal.user_id
    # Everyone signs in here; a person who is not an administrator lands on their own record.
    return redirect(url_for("admin.index") if principal.is_admin else url_for("me.diary"))


@blueprint.post("/resend")
def resend() -> BaseResponse | tuple[str, int]:
    """Mail a new code for the pending sign-in."""
    challenge_id = session.get("challenge_id")
    if not isinstance(challenge_id, str):
        return redirect(url_for("admin.login"))
    try:
        services().auth.resend(challenge_id)
    except (AuthError, TransientError) as exc:
        sent_to, method = session.get("sent_to", ""), session.get("sign_in_method", "email")
        return render_template("admin_verify.html", sent_to=sent_to, method=method, error=str(exc)), 429
    flash("A new code is on its way.")
    return redirect(url_for("admin.verify"))


@blueprint.post("/logout")
def logout() -> BaseResponse:
    """Revoke the session's token and delete the server-side session."""
    digest = session_token_digest()
    if digest is not None:
        services().auth.logout_digest(digest)
    session.clear()
    return redirect(url_for("admin.login"))


# --------------------------------------------------------------------------- config
def _index_page(values: dict[str, Any], errors: dict[str, str], principal: Principal) -> str:
    context = services()
    with context.database.session() as db:
        version = config_data.config_version(db)
    users = context.auth.list_users()
    return render_template(
        "admin_index.html", rows=_field_rows(values, errors), users=users, version=version,
        principal=principal,
    )


@blueprint.get("/")
@admin_page_required
def index() -> BaseResponse | str:
    """The global defaults form and the list of users."""
    principal = current_principal()
    with services().database.session() as db:
        values = config_data.global_config(db)
    return _index_page(values, {}, principal)


@blueprint.post("/config")
@admin_page_required
def save_global_config() -> BaseResponse | tuple[str, int]:
    """Save the global defaults form; errors are shown beside each field."""
    principal = current_principal()
    submitted = {spec.name: parse_form_value(spec, request.form.get(spec.name)) for spec in SCHEMA}
    try:
        changes = validate_config(submitted, partial=False)
    except ConfigError as exc:
        return _index_page(submitted, exc.errors, principal), 400
    context = services()
    with context.database.session() as db:
        changed = config_data.update_global_config(db, principal.username, changes, context.now())
    flash(f"Saved: {changed} setting(s) changed." if changed else "Nothing changed.")
    return redirect(url_for("admin.index"))


def _user_page(
    username: str, submitted: dict[str, Any] | None, errors: dict[str, str], principal: Principal
) -> str:
    context = services()
    with context.database.session() as db:
        user = user_or_404(db, username)
        overrides = config_data.user_overrides(db, user.id)
        defaults = config_data.global_config(db)
        effective = config_data.effective_config(db, user.id)
    shown = overrides if submitted is None else submitted
    rows = [
        {"spec": spec, "value": shown.get(spec.name), "default": defaults[spec.name],
         "effective": effective[spec.name], "error": errors.get(spec.name)}
        for spec in SCHEMA
    ]
    return render_template("admin_user.html", username=username, rows=rows, principal=principal)


@blueprint.get("/users/<username>")
@admin_page_required
def user_config(username: str) -> BaseResponse | str:
    """One user's overrides form."""
    principal = current_principal()
    return _user_page(username, None, {}, principal)


def _parse_override(name: str, raw: str | None) -> Any:
    """An override form value: empty means "inherit the global default" (None)."""
    if raw is None or raw.strip() == "":
        return None
    spec = SCHEMA_BY_NAME[name]
    if spec.kind is bool:
        return raw == "true" if raw in {"true", "false"} else raw
    return parse_form_value(spec, raw)


@blueprint.post("/users/<username>")
@admin_page_required
def save_user_config(username: str) -> BaseResponse | tuple[str, int]:
    """Save one user's overrides; an empty field removes the override."""
    principal = current_principal()
    submitted = {spec.name: _parse_override(spec.name, request.form.get(spec.name)) for spec in SCHEMA}
    try:
        changes = validate_overrides(submitted)
    except ConfigError as exc:
        return _user_page(username, submitted, exc.errors, principal), 400
    context = services()
    with context.database.session() as db:
        user = user_or_404(db, username)
        changed = config_data.update_user_overrides(db, principal.username, user, changes, context.now())
    flash(f"Saved: {changed} override(s) changed." if changed else "Nothing changed.")
    return redirect(url_for("admin.user_config", username=username))


@blueprint.get("/audit")
@admin_page_required
def audit() -> BaseResponse | str:
    """The config audit log, newest first."""
    principal = current_principal()
    with services().database.session() as db:
        entries = config_data.audit_entries(db, 500)
    return render_template("admin_audit.html", entries=entries, principal=principal)
