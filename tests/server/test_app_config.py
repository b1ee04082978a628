"""/get-config, the admin config API and its audit log, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from server_support import Server, ServerSetup, make_app

from contract.config_schema import DEFAULTS, AgentConfig
from server.context import services_of

PASSWORD = "correct horse battery"


@pytest.fixture
def server_setup() -> ServerSetup:
    """An admin (ann) and two users (bob, cy), all signed in."""
    return ServerSetup(users={"ann": True, "bob": False, "cy": False}, signed_in=True, password=PASSWORD)


def get(server: Server, path: str, headers: dict[str, str]) -> Any:
    return server.client.get(path, headers=headers)


def put(server: Server, path: str, headers: dict[str, str], body: Any) -> Any:
    return server.client.put(path, headers=headers, json=body)


def error_code(response: Any) -> str:
    return str(response.get_json()["error"]["code"])


def test_get_config_serves_the_defaults_as_a_valid_agent_config(server: Server) -> None:
    response = get(server, "/get-config", server.headers("bob"))
    assert response.status_code == 200
    body = response.get_json()
    assert body == {**DEFAULTS, "version": 0}
    assert AgentConfig.from_mapping(body).as_dict() == DEFAULTS
    assert response.headers["ETag"]


def test_if_none_match_gives_304_until_the_config_changes(server: Server) -> None:
    first = get(server, "/get-config", server.headers("bob"))
    etag = first.headers["ETag"]
    cached = get(server, "/get-config", {**server.headers("bob"), "If-None-Match": etag})
    assert cached.status_code == 304 and cached.get_data() == b""
    assert put(server, "/api/config", server.headers("ann"), {"screenshot_interval": 600}).status_code == 200
    changed = get(server, "/get-config", {**server.headers("bob"), "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.get_json()["screenshot_interval"] == 600
    assert changed.get_json()["version"] > first.get_json()["version"]
    assert changed.headers["ETag"] != etag


def test_user_overrides_overlay_the_global_defaults_for_that_user_only(server: Server) -> None:
    bob_etag = get(server, "/get-config", server.headers("bob")).headers["ETag"]
    overrides = {"blur_screenshots": True, "jpeg_quality": 40}
    response = put(server, "/api/users/bob/config", server.headers("ann"), overrides)
    assert response.status_code == 200
    assert response.get_json()["overrides"] == {"blur_screenshots": True, "jpeg_quality": 40}
    bob = get(server, "/get-config", server.headers("bob"))
    assert bob.get_json()["blur_screenshots"] is True and bob.get_json()["jpeg_quality"] == 40
    assert bob.headers["ETag"] != bob_etag
    assert get(server, "/get-config", server.headers("cy")).get_json()["blur_screenshots"] is False
    # An override wins over a later global change; null removes it.
    put(server, "/api/config", server.headers("ann"), {"jpeg_quality": 90})
    assert get(server, "/get-config", server.headers("bob")).get_json()["jpeg_quality"] == 40
    removed = put(server, "/api/users/bob/config", server.headers("ann"), {"jpeg_quality": None})
    assert removed.get_json()["overrides"] == {"blur_screenshots": True}
    assert get(server, "/get-config", server.headers("bob")).get_json()["jpeg_quality"] == 90


@pytest.mark.parametrize(
    ("body", "bad_fields"),
    [
        ({"screenshot_interval": 9}, {"screenshot_interval"}),
        ({"screenshot_interval": 86401}, {"screenshot_interval"}),
        ({"screenshot_interval": "300"}, {"screenshot_interval"}),
        ({"screenshot_interval": True}, {"screenshot_interval"}),
        ({"capture_enabled": 1}, {"capture_enabled"}),
        ({"timezone": "Mars/Olympus"}, {"timezone"}),
        (
            {"jpeg_quality": 96, "battery_threshold": -1, "colour": "red"},
            {"jpeg_quality", "battery_threshold", "colour"},
        ),
    ],
)
def test_bad_values_and_unknown_keys_are_refused_naming_every_field(
    server: Server, body: dict[str, Any], bad_fields: set[str]
) -> None:
    before = get(server, "/api/config", server.headers("ann")).get_json()
    response = put(server, "/api/config", server.headers("ann"), body)
    assert response.status_code == 400 and error_code(response) == "validation_error"
    assert set(response.get_json()["error"]["fields"]) == bad_fields
    assert get(server, "/api/config", server.headers("ann")).get_json() == before  # nothing half-applied
    overrides = put(server, "/api/users/bob/config", server.headers("ann"), body)
    assert overrides.status_code == 400 and set(overrides.get_json()["error"]["fields"]) == bad_fields


def test_malformed_config_bodies_are_bad_requests(server: Server) -> None:
    for data in (b"{", b"[]", b'"x"'):
        response = server.client.put(
            "/api/config", headers=server.headers("ann"), data=data, content_type="application/json"
        )
        assert response.status_code == 400 and error_code(response) == "bad_request"
    assert get(server, "/get-config", server.headers("bob")).status_code == 200


def test_non_admins_get_403_on_every_admin_route(server: Server) -> None:
    for method, path in (
        ("GET", "/api/config"), ("PUT", "/api/config"), ("GET", "/api/users/bob/config"),
        ("PUT", "/api/users/bob/config"), ("GET", "/api/config/audit"), ("GET", "/api/users"),
    ):
        body = {"jpeg_quality": 50}
        response = server.client.open(path, method=method, headers=server.headers("bob"), json=body)
        assert response.status_code == 403 and error_code(response) == "forbidden", path
    assert get(server, "/get-config", server.headers("bob")).get_json()["jpeg_quality"] == 70


def test_admin_routes_need_a_token(server: Server) -> None:
    response = server.client.put("/api/config", json={"jpeg_quality": 50})
    assert response.status_code == 401 and error_code(response) == "unauthorized"


def test_an_unknown_user_is_404(server: Server) -> None:
    response = put(server, "/api/users/nobody/config", server.headers("ann"), {"jpeg_quality": 50})
    assert response.status_code == 404 and error_code(response) == "not_found"


def test_every_change_is_audited_with_who_when_old_and_new(server: Server) -> None:
    put(server, "/api/config", server.headers("ann"), {"screenshot_interval": 120, "capture_enabled": True})
    server.clock.advance(minutes=1)
    put(server, "/api/users/cy/config", server.headers("ann"), {"timezone": "Europe/Berlin"})
    put(server, "/api/users/cy/config", server.headers("ann"), {"timezone": None})
    entries = get(server, "/api/config/audit", server.headers("ann")).get_json()["entries"]
    # capture_enabled was already true: not a change, not audited.
    assert [(e["scope"], e["key"], e["old"], e["new"]) for e in entries] == [
        ("user:cy", "timezone", "Europe/Berlin", None),
        ("user:cy", "timezone", None, "Europe/Berlin"),
        ("global", "screenshot_interval", 300, 120),
    ]
    assert {e["actor"] for e in entries} == {"ann"}
    assert entries[0]["at"] > entries[2]["at"]
    assert get(server, "/get-config", server.headers("cy")).get_json()["version"] == entries[0]["id"]


def test_config_and_audit_survive_a_restart_on_the_same_database(
    database_url: str, tmp_path: Path, server: Server
) -> None:
    put(server, "/api/config", server.headers("ann"), {"idle_threshold": 600})
    restarted = make_app(database_url, tmp_path)
    try:
        client = restarted.test_client()
        response = client.get("/get-config", headers=server.headers("bob"))
        assert response.get_json()["idle_threshold"] == 600
        assert response.get_json()["version"] == 1
    finally:
        services_of(restarted).database.dispose()
