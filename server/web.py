"""Request helpers of every route module: the JSON error answer, the body, the zone, who is signed in.

``@login_required`` / ``@admin_required`` guard the
JSON API (bearer token; 401/403 as JSON), ``@admin_page_required`` guards the ``/admin`` pages
(session cookie; a redirect to the sign-in page, 403 for a non-admin). Each leaves the account in
``g.principal``; the route reads it with :func:`current_principal`.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import Response, abort, g, jsonify, redirect, request, session, url_for
from werkzeug.wrappers.response import Response as BaseResponse

import time_manager
from auth_manager import Principal, token_digest
from contract.errors import AuthError, ConfigError, RequestRefused
from server.context import services
from server.reports.days import MAX_REPORT_DAYS, week_of
from server.reports.zones import check_report_day

P = ParamSpec("P")
R = TypeVar("R")

ADMIN_ONLY = "this needs an administrator account"
TOKEN_DIGEST_KEY = "token_digest"  # noqa: S105 - a session key name, not a secret
MAX_JSON_DEPTH = 32
ITEM_VALIDATED_LISTS = ("samples[",)
# Larger integers fit no column and no counter: refused by name rather than overflowing later.
MAX_JSON_INTEGER = 2**63
# PostgreSQL stores no NUL character in text and UTF-8 has no lone surrogate: both are refused by name.
NOT_TEXT = "must be text without NUL characters or lone surrogates such as \\ud800"
ZONE_PARAMETER = "tz"
ZONE_ALIAS = "zone"


def page_security_headers(values: Mapping[str, str]) -> dict[str, str]:
    """Headers of every answer: no framing (clickjacking), and a CSP with no inline script.

    Images may come from the S3 store the diary's links redirect to. Inline ``style`` attributes
    stay allowed (the diary draws its activity bars with them); inline script does not.
    """
    image_sources = ["'self'", "data:"]
    if values.get("S3_BUCKET", "").strip():
        endpoint = urlsplit(values.get("S3_ENDPOINT_URL", "").strip())
        origin = f"{endpoint.scheme}://{endpoint.netloc}" if endpoint.scheme and endpoint.netloc else ""
        image_sources.append(origin or "https://*.amazonaws.com")
    policy = "; ".join((
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "style-src-attr 'unsafe-inline'",
        f"img-src {' '.join(image_sources)}", "object-src 'none'", "base-uri 'none'", "form-action 'self'",
        "frame-ancestors 'none'",
    ))
    return {"X-Frame-Options": "DENY", "Content-Security-Policy": policy, "Referrer-Policy": "same-origin"}


# One year, as browsers' preload lists expect; sent only over HTTPS (RFC 6797 says to ignore it over HTTP).
HSTS_VALUE = "max-age=31536000"


def transport_security_headers() -> dict[str, str]:
    """HSTS when this request came over HTTPS (directly, or said so by a trusted proxy); none otherwise."""
    return {"Strict-Transport-Security": HSTS_VALUE} if request.is_secure else {}


def error_response(error: RequestRefused) -> Response:
    """The one JSON error answer of docs/API.md: ``error.to_json()`` with its status and Retry-After."""
    response = jsonify(error.to_json())
    response.status_code = error.status
    if error.retry_after_seconds is not None:
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response


class _NotJson(ValueError):
    """A JSON text the server refuses although Python's parser would take it."""


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"the body holds {name}, which JSON does not allow")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotJson("the body holds a number too large for a float")
    return number


def _child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _check_values(payload: Any) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH, lone surrogates and integers past 64 bits, naming the field.

    Iterative, so a deep body cannot exhaust the stack here either.
    """
    errors: dict[str, str] = {}
    pending: list[tuple[Any, str, int]] = [(payload, "", 1)]
    while pending and len(errors) < 20:
        value, path, depth = pending.pop()
        if isinstance(value, (dict, list)) and depth > MAX_JSON_DEPTH:
            raise RequestRefused(
                f"the body is nested deeper than {MAX_JSON_DEPTH} levels", status=400, code="bad_request",
                field="body",
            )
        # Inside an item of these lists only the depth is checked here: each item is validated on
        # its own and refused by index (POST /activity stores the valid samples, lists the rest).
        checks_values = not path.startswith(ITEM_VALIDATED_LISTS)
        if isinstance(value, dict):
            for key, item in value.items():
                child = _child_path(path, key)
                if checks_values and not _is_text(key):
                    errors[child] = NOT_TEXT
                pending.append((item, child, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, _child_path(path, index), depth + 1) for index, item in enumerate(value))
        elif not checks_values:
            continue
        elif isinstance(value, str) and not _is_text(value):
            errors[path or "body"] = NOT_TEXT
        elif isinstance(value, int) and not -MAX_JSON_INTEGER <= value < MAX_JSON_INTEGER:
            errors[path or "body"] = "is too large a number"
    if errors:
        raise ConfigError(errors)


def _is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def json_body() -> dict[str, Any]:
    """The request body as a JSON object, or 400 naming what is wrong (issue 10 item 13).

    A body nested 100,000 deep raised RecursionError and a lone surrogate (``"\\ud800"``) a
    UnicodeEncodeError deep in the database driver: both are refused here, for every route.
    """
    data = request.get_data(cache=True)
    try:
        payload = json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NotJson as exc:
        raise RequestRefused(str(exc), status=400, code="bad_request", field="body") from exc
    except RecursionError as exc:
        raise RequestRefused(
            f"the body is nested deeper than {MAX_JSON_DEPTH} levels", status=400, code="bad_request",
            field="body",
        ) from exc
    except ValueError as exc:
        raise RequestRefused("the body is not valid JSON", status=400, code="bad_request") from exc
    if not isinstance(payload, dict):
        raise RequestRefused("the body must be a JSON object", status=400, code="bad_request")
    _check_values(payload)
    return payload


def client_address() -> str:
    """The client's address: the connection's, or the trusted proxy's X-Forwarded-For (app.py's ProxyFix)."""
    return request.remote_addr or ""


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


def day_parameter(name: str = "date") -> date | None:
    """A ``YYYY-MM-DD`` query parameter, or None when absent; 400 naming it when malformed or out of range."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError({name: "must be a date like 2026-11-25"}) from exc
    return check_report_day(day, name)


def range_parameters(zone: str | None) -> tuple[date, date]:
    """``from`` and ``to`` (default: this week in ``zone``), at most MAX_REPORT_DAYS apart."""
    today = time_manager.local_date(services().now(), zone or "UTC")
    monday, sunday = week_of(today)
    first_day = day_parameter("from") or monday
    last_day = day_parameter("to") or sunday
    if last_day < first_day:
        raise ConfigError({"to": "must not be before from"})
    if (last_day - first_day).days + 1 > MAX_REPORT_DAYS:
        raise ConfigError({"from": f"the range may span at most {MAX_REPORT_DAYS} days"})
    return first_day, last_day


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
        context = services()
        # The token's check and the route's transactions share one pooled connection (issue 14's load).
        with context.database.request_scope():
            g.principal = context.auth.authenticate(bearer_token(), client_address())
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


def session_token_digest() -> str | None:
    """The digest of the token the (server-side) web session signed in with, or None.

    Sign-in keeps only the digest; a raw ``token`` put in the session (tests' helpers) is read as its digest.
    """
    digest = session.get(TOKEN_DIGEST_KEY)
    if isinstance(digest, str):
        return digest
    token = session.get("token")
    return token_digest(token) if isinstance(token, str) and token else None


def admin_page_required(view: Callable[P, R]) -> Callable[P, R | BaseResponse]:
    """Run an ``/admin`` page for a signed-in administrator; redirect to sign-in, 403 for a non-admin."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | BaseResponse:
        digest = session_token_digest()
        if digest is None:
            return redirect(url_for("admin.login"))
        context = services()
        with context.database.request_scope():
            try:
                principal = context.auth.authenticate_digest(digest)
            except AuthError:
                session.clear()
                return redirect(url_for("admin.login"))
            if not principal.is_admin:
                abort(403, description=ADMIN_ONLY)
            g.principal = principal
            return view(*args, **kwargs)

    return wrapped


def page_login_required(view: Callable[P, R]) -> Callable[P, R | BaseResponse]:
    """Run a page (``/me``) for any signed-in person, admin or not; redirect to the sign-in page otherwise."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | BaseResponse:
        digest = session_token_digest()
        if digest is None:
            return redirect(url_for("admin.login"))
        context = services()
        with context.database.request_scope():
            try:
                g.principal = context.auth.authenticate_digest(digest)
            except AuthError:
                session.clear()
                return redirect(url_for("admin.login"))
            return view(*args, **kwargs)

    return wrapped
