"""The request helpers of server/web.py: JSON body, string fields, bearer token, zone, errors, guards."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, Response, jsonify
from server_support import Server

from contract.errors import ConfigError, RequestRefused
from server.web import (
    admin_page_required,
    admin_required,
    bearer_token,
    current_principal,
    error_response,
    json_body,
    login_required,
    string_fields,
    zone_parameter,
)

bare_app = Flask(__name__)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "the body is not valid JSON"),
        (b"", "the body is not valid JSON"),
        (b"[1, 2]", "the body must be a JSON object"),
        (b"null", "the body must be a JSON object"),
    ],
)
def test_json_body_refuses_anything_but_a_json_object(data: bytes, message: str) -> None:
    with bare_app.test_request_context(data=data, content_type="application/json"):
        with pytest.raises(RequestRefused) as caught:
            json_body()
    assert (caught.value.status, caught.value.code, caught.value.message) == (400, "bad_request", message)


def test_json_body_returns_the_object_whatever_the_content_type() -> None:
    with bare_app.test_request_context(data=b'{"a": [1, 2]}', content_type="text/plain"):
        assert json_body() == {"a": [1, 2]}


def test_string_fields_returns_the_values_in_order() -> None:
    assert string_fields({"b": "2", "a": "1", "c": 3}, "a", "b") == ["1", "2"]


def test_string_fields_names_every_missing_or_non_string_field() -> None:
    with pytest.raises(ConfigError) as caught:
        string_fields({"a": 1, "b": "fine", "c": None}, "a", "b", "c", "d")
    assert caught.value.errors == {"a": "must be a string", "c": "must be a string", "d": "must be a string"}


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def", "abc.def"),
        ("bearer   spaced  ", "spaced"),
        ("Basic dXNlcjpwYXNz", ""),
        ("Bearer", ""),
        (None, ""),
    ],
)
def test_bearer_token_reads_only_the_bearer_scheme(header: str | None, token: str) -> None:
    headers = {} if header is None else {"Authorization": header}
    with bare_app.test_request_context(headers=headers):
        assert bearer_token() == token


@pytest.mark.parametrize(
    ("query", "zone"),
    [("tz=Asia/Kolkata", "Asia/Kolkata"), ("zone=Europe/Berlin", "Europe/Berlin"),
     ("tz=UTC&zone=Asia/Kolkata", "UTC"), ("tz=+", None), ("", None)],
)
def test_zone_parameter_is_tz_with_zone_as_an_alias(query: str, zone: str | None) -> None:
    with bare_app.test_request_context(f"/?{query}"):
        assert zone_parameter() == zone


@pytest.mark.parametrize("name", ["tz", "zone"])
def test_a_bad_zone_is_refused_naming_the_parameter_the_client_used(name: str) -> None:
    with bare_app.test_request_context(f"/?{name}=Mars/Olympus"), pytest.raises(ConfigError) as caught:
        zone_parameter()
    assert set(caught.value.errors) == {name}


def test_error_response_is_the_error_body_with_status_and_retry_after() -> None:
    error = RequestRefused("slow down", status=429, code="too_many_attempts", field="code",
                           retry_after_seconds=30)
    with bare_app.test_request_context():
        response = error_response(error)
    assert response.status_code == 429 and response.headers["Retry-After"] == "30"
    assert response.get_json() == {
        "error": {"code": "too_many_attempts", "message": "slow down", "fields": {"code": "slow down"}}
    }


def _add_guarded_routes(app: Flask) -> None:
    def who() -> Response:
        return jsonify({"username": current_principal().username})

    app.add_url_rule("/t/login", "t_login", login_required(who))
    app.add_url_rule("/t/admin", "t_admin", admin_required(who))
    app.add_url_rule("/t/page", "t_page", admin_page_required(who))


def _guarded(server: Server) -> Server:
    """Add the test routes (before the app's first request), then sign ann (admin) and bob in."""
    _add_guarded_routes(server.app)
    server.tokens = {name: server.sign_in(name) for name in ("ann", "bob")}
    return server


def _code(response: Any) -> str:
    return str(response.get_json()["error"]["code"])


def test_login_required_lets_any_signed_in_account_through_and_answers_401_json_otherwise(
    server: Server,
) -> None:
    _guarded(server)
    assert server.client.get("/t/login", headers=server.headers("bob")).get_json() == {"username": "bob"}
    missing = server.client.get("/t/login")
    forged = server.client.get("/t/login", headers={"Authorization": "Bearer forged"})
    assert missing.status_code == forged.status_code == 401 and _code(missing) == "unauthorized"


def test_admin_required_answers_403_json_to_a_non_admin_and_401_without_a_token(server: Server) -> None:
    _guarded(server)
    assert server.client.get("/t/admin", headers=server.headers("ann")).get_json() == {"username": "ann"}
    refused = server.client.get("/t/admin", headers=server.headers("bob"))
    assert refused.status_code == 403 and _code(refused) == "forbidden"
    assert server.client.get("/t/admin").status_code == 401


def test_admin_page_required_redirects_to_sign_in_and_refuses_a_non_admin(server: Server) -> None:
    _guarded(server)
    assert server.admin_browser("ann").get("/t/page").get_json() == {"username": "ann"}
    assert server.admin_browser("bob").get("/t/page").status_code == 403
    nobody = server.app.test_client().get("/t/page")
    assert nobody.status_code == 302 and nobody.headers["Location"].endswith("/admin/login")
    server.client.post("/auth/logout", headers=server.headers("ann"))
    revoked = server.admin_browser("ann").get("/t/page")
    assert revoked.status_code == 302 and revoked.headers["Location"].endswith("/admin/login")


def test_current_principal_without_a_guard_is_a_programming_error() -> None:
    with bare_app.test_request_context(), pytest.raises(RuntimeError):
        current_principal()
