"""Request helpers shared by every HTTP route module: the JSON error, the body, the signed-in account.

Route modules (app.py, screenshot_routes.py, the admin pages) import these instead of importing
app.py, so the imports keep pointing one way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Response, current_app, g, jsonify, request

from auth_manager import Principal
from contract.errors import ConfigError

if TYPE_CHECKING:
    from app import ServerContext

EXTENSION_KEY = "vinova"


def services() -> ServerContext:
    """The ServerContext of the current app."""
    context: ServerContext = current_app.extensions[EXTENSION_KEY]
    return context


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message"}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, retry_after_seconds: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after_seconds = retry_after_seconds


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    fields: Mapping[str, str] | None = None,
    retry_after_seconds: int | None = None,
) -> Response:
    """The one JSON error shape of docs/API.md."""
    error: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        error["fields"] = dict(fields)
    response = jsonify({"error": error})
    response.status_code = status
    if retry_after_seconds is not None:
        response.headers["Retry-After"] = str(retry_after_seconds)
    return response


def json_body() -> dict[str, Any]:
    """The request body as a JSON object, or 400 bad_request."""
    data = request.get_data(cache=True)
    try:
        payload = json.loads(data)
    except ValueError as exc:
        raise ApiError(400, "bad_request", "the body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
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


def current_principal() -> Principal:
    """The signed-in account of this request (401 otherwise)."""
    principal: Principal | None = g.get("principal")
    if principal is None:
        principal = services().auth.authenticate(bearer_token())
        g.principal = principal
    return principal


def require_admin() -> Principal:
    """The signed-in account, which must be an admin (403 otherwise)."""
    principal = current_principal()
    if not principal.is_admin:
        raise ApiError(403, "forbidden", "this needs an administrator account")
    return principal
