"""Request helpers of every route module: the JSON error answer, the body, the zone, who is signed in.

``@login_required`` / ``@admin_required`` guard the
JSON API (bearer token; 401/403 as JSON), ``@admin_page_required`` guards the ``/admin`` pages
(session cookie; a redirect to the sign-in page, 403 for a non-admin). Each leaves the account in
``g.principal``; the route reads it with :func:`current_principal`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from flask import Response, abort, g, jsonify, redirect, request, session, url_for
from werkzeug.wrappers.response import Response as BaseResponse

import time_manager
from auth_manager import Principal
from contract.errors import AuthError, ConfigError, RequestRefused
from server.context import services

P = ParamSpec("P")
R = TypeVar("R")

ADMIN_ONLY = "this needs an administrator account"
ZONE_PARAMETER = "tz"
ZONE_ALIAS = "zone"


def error_response(error: RequestRefused) -> Response:
    """The one JSON error answer of docs/API.md: ``error.to_json()`` with its status and Retry-After."""
    response = jsonify(error.to_json())
    response.status_code = error.status
    if error.retry_after_seconds is not None:
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response


def json_body() -> dict[str, Any]:
    """The request body as a JSON object, or 400 bad_request."""
    data = request.get_data(cache=True)
    try:
        payload = json.loads(data)
    except ValueError as exc:
        raise RequestRefused("the body is not valid JSON", status=400, code="bad_request") from exc
    if not isinstance(payload, dict):
        raise RequestRefused("the body must be a JSON object", status=400, code="bad_request")
    return payload


def string_fields(payload: Mapping[str, Any], *names: str) -> list[str]:
    """The named string fields of a body, or a validation error naming each missing/non-string one."""
    errors = {name: "must be a string" for name in names if not isinstance(payload.get(name), str)}
    if errors:
        raise ConfigError(errors)
    return [payload[name] for name in names]


def bearer_token() -> str:
    """The token from ``Authorization: Bearer <token>`` ("" when absent)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def zone_parameter() -> str | None:
    """The ``tz`` query parameter (``zone`` is accepted too) as an IANA name; None when absent or blank."""
    name = ZONE_PARAMETER if ZONE_PARAMETER in request.args else ZONE_ALIAS
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return time_manager.zone_name(text)
    except ConfigError as exc:
        raise ConfigError({name: "must be an IANA time zone name, e.g. Asia/Kolkata"}) from exc


def current_principal() -> Principal:
    """The account a ``*_required`` decorator of this route signed in."""
    principal: Principal | None = g.get("principal")
    if principal is None:
        raise RuntimeError("the route reads the principal without a *_required decorator")
    return principal


def login_required(view: Callable[P, R]) -> Callable[P, R]:
    """Run ``view`` for a valid bearer token only (401 JSON otherwise)."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        g.principal = services().auth.authenticate(bearer_token())
        return view(*args, **kwargs)

    return wrapped


def admin_required(view: Callable[P, R]) -> Callable[P, R]:
    """Run ``view`` for an administrator's bearer token only (401/403 JSON otherwise)."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        if not current_principal().is_admin:
            raise RequestRefused(ADMIN_ONLY, status=403, code="forbidden")
        return view(*args, **kwargs)

    return login_required(wrapped)


def admin_page_required(view: Callable[P, R]) -> Callable[P, R | BaseResponse]:
    """Run an ``/admin`` page for a signed-in administrator; redirect to sign-in, 403 for a non-admin."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | BaseResponse:
        token = session.get("token")
        if not isinstance(token, str):
            return redirect(url_for("admin.login"))
        try:
            principal = services().auth.authenticate(token)
        except AuthError:
            session.pop("token", None)
            return redirect(url_for("admin.login"))
        if not principal.is_admin:
            abort(403, description=ADMIN_ONLY)
        g.principal = principal
        return view(*args, **kwargs)

    return wrapped
