"""/get-config, the admin config API and its audit log, on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from server_support import FakeClock, add_user, bearer, latest_code, make_app, sign_in

from contract.config_schema import DEFAULTS, AgentConfig

PASSWORD = "correct horse battery"


@dataclass
class Server:
    app: Flask
    client: FlaskClient
    clock: FakeClock
    admin: dict[str, str]
    bob: dict[str, str]
    cy: dict[str, str]

    def get(self, path: str, headers: dict[str, str]) -> Any:
        return self.client.get(path, headers=headers)

    def put(self, path: str, headers: dict[str, str], body: Any) -> Any:
        return self.client.put(path, headers=headers, json=body)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    clock = FakeClock()
    app = make_app(database_url, tmp_path, clock=clock)
    client = app.test_client()
    headers = {}
    for name, admin in (("ann", True), ("bob", False), ("cy", False)):
        add_user(app, name, f"{name}@example.com", PASSWORD, admin=admin)
        address = f"{name}@example.com"
        token = sign_in(client, name, PASSWORD, functools.partial(latest_code, tmp_path, address))
        headers[name] = bearer(token)
    yield Server(app, client, clock, headers["ann"], headers["bob"], headers["cy"])
    app.extensions["vinova"].database.dispose()


def error_code(response: Any) -> str:
    return str(response.get_json()["error"]["code"])


def test_get_config_serves_the_defaults_as_a_valid_agent_config(server: Server) -> None:
    response = server.get("/get-config", server.bob)
    assert response.status_code == 200
    body = response.get_json()
    assert body == {**DEFAULTS, "version": 0}
    assert AgentConfig.from_mapping(body).as_dict() == DEFAULTS
    assert response.headers["ETag"]


def test_if_none_match_gives_304_until_the_config_changes(server: Server) -> None:
    first = server.get("/get-config", server.bob)
    etag = first.headers["ETag"]
    cached = server.get("/get-config", {**server.bob, "If-None-Match": etag})
    assert cached.status_code == 304 and cached.get_data() == b""
    assert server.put("/api/config", server.admin, {"screenshot_interval": 600}).status_code == 200
    changed = server.get("/get-config", {**server.bob, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.get_json()["screenshot_interval"] == 600
    assert changed.get_json()["version"] > first.get_json()["version"]
    assert changed.headers["ETag"] != etag


def test_user_overrides_overlay_the_global_defaults_for_that_user_only(server: Server) -> None:
    bob_etag = server.get("/get-config", server.bob).headers["ETag"]
    overrides = {"blur_screenshots": True, "jpeg_quality": 40}
    response = server.put("/api/users/bob/config", server.admin, overrides)
    assert response.status_code == 200
    assert response.get_json()["overrides"] == {"blur_screenshots": True, "jpeg_quality": 40}
    bob = server.get("/get-config", server.bob)
    assert bob.get_json()["blur_screenshots"] is True and bob.get_json()["jpeg_quality"] == 40
    assert bob.headers["ETag"] != bob_etag
    assert server.get("/get-config", server.cy).get_json()["blur_screenshots"] is False
    # An override wins over a later global change; null removes it.
    server.put("/api/config", server.admin, {"jpeg_quality": 90})
    assert server.get("/get-config", server.bob).get_json()["jpeg_quality"] == 40
    removed = server.put("/api/users/bob/config", server.admin, {"jpeg_quality": None})
    assert removed.get_json()["overrides"] == {"blur_screenshots": True}
    assert server.get("/get-config", server.bob).get_json()["jpeg_quality"] == 90


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
    before = server.get("/api/config", server.admin).get_json()
    response = server.put("/api/config", server.admin, body)
    assert response.status_code == 400 and error_code(response) == "validation_error"
    assert set(response.get_json()["error"]["fields"]) == bad_fields
    assert server.get("/api/config", server.admin).get_json() == before  # nothing half-applied
    overrides = server.put("/api/users/bob/config", server.admin, body)
    assert overrides.status_code == 400 and set(overrides.get_json()["error"]["fields"]) == bad_fields


def test_malformed_config_bodies_are_bad_requests(server: Server) -> None:
    for data in (b"{", b"[]", b'"x"'):
        response = server.client.put(
            "/api/config", headers=server.admin, data=data, content_type="application/json"
        )
        assert response.status_code == 400 and error_code(response) == "bad_request"
    assert server.get("/get-config", server.bob).status_code == 200


def test_non_admins_get_403_on_every_admin_route(server: Server) -> None:
    for method, path in (
        ("GET", "/api/config"), ("PUT", "/api/config"), ("GET", "/api/users/bob/config"),
        ("PUT", "/api/users/bob/config"), ("GET", "/api/config/audit"), ("GET", "/api/users"),
    ):
        response = server.client.open(path, method=method, headers=server.bob, json={"jpeg_quality": 50})
        assert response.status_code == 403 and error_code(response) == "forbidden", path
    assert server.get("/get-config", server.bob).get_json()["jpeg_quality"] == 70


def test_admin_routes_need_a_token(server: Server) -> None:
    response = server.client.put("/api/config", json={"jpeg_quality": 50})
    assert response.status_code == 401 and error_code(response) == "unauthorized"


def test_an_unknown_user_is_404(server: Server) -> None:
    response = server.put("/api/users/nobody/config", server.admin, {"jpeg_quality": 50})
    assert response.status_code == 404 and error_code(response) == "not_found"


def test_every_change_is_audited_with_who_when_old_and_new(server: Server) -> None:
    server.put("/api/config", server.admin, {"screenshot_interval": 120, "capture_enabled": True})
    server.clock.advance(minutes=1)
    server.put("/api/users/cy/config", server.admin, {"timezone": "Europe/Berlin"})
    server.put("/api/users/cy/config", server.admin, {"timezone": None})
    entries = server.get("/api/config/audit", server.admin).get_json()["entries"]
    # capture_enabled was already true: not a change, not audited.
    assert [(e["scope"], e["key"], e["old"], e["new"]) for e in entries] == [
        ("user:cy", "timezone", "Europe/Berlin", None),
        ("user:cy", "timezone", None, "Europe/Berlin"),
        ("global", "screenshot_interval", 300, 120),
    ]
    assert {e["actor"] for e in entries} == {"ann"}
    assert entries[0]["at"] > entries[2]["at"]
    assert server.get("/get-config", server.cy).get_json()["version"] == entries[0]["id"]


def test_config_and_audit_survive_a_restart_on_the_same_database(
    database_url: str, tmp_path: Path, server: Server
) -> None:
    server.put("/api/config", server.admin, {"idle_threshold": 600})
    restarted = make_app(database_url, tmp_path)
    try:
        client = restarted.test_client()
        response = client.get("/get-config", headers=server.bob)
        assert response.get_json()["idle_threshold"] == 600
        assert response.get_json()["version"] == 1
    finally:
        restarted.extensions["vinova"].database.dispose()
