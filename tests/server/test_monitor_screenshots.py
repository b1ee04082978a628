"""One image per monitor at one moment: registered and listed with its monitor (SQLite, PostgreSQL)."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image
from server_support import Server, ServerSetup

from contract.screenshots import object_key

TAKEN_AT = datetime(2026, 12, 2, 9, 30, 15, tzinfo=UTC)


@pytest.fixture
def server_setup() -> ServerSetup:
    """A user (ann) and an admin (boss), both signed in."""
    return ServerSetup(users={"ann": False, "boss": True}, signed_in=True,
                       start=datetime(2026, 12, 2, 10, 0, tzinfo=UTC))


def upload(server: Server, colour: str, size: tuple[int, int], **extra: Any) -> tuple[int, dict[str, Any]]:
    """Sign, PUT and register one capture of ann's taken at TAKEN_AT; (status, registration body)."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", quality=70)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    key = object_key("", "ann", TAKEN_AT, digest)
    signed = server.client.post("/uploads/sign", headers=server.headers("ann"), json={
        "key": key, "content_type": "image/jpeg", "size_bytes": len(data), "sha256": digest,
    })
    assert signed.status_code == 200, signed.get_json()
    body = signed.get_json()
    url = body["url"].split("://", 1)[-1].split("/", 1)[-1]
    put = server.client.put(f"/{url}", data=data, headers=body["headers"])
    assert put.status_code == 201, put.get_json()
    registration = {"key": key, "taken_at": TAKEN_AT.isoformat(), "timezone": "UTC", "blurred": False,
                    "width": size[0], "height": size[1], "size_bytes": len(data), "sha256": digest, **extra}
    response = server.client.post("/screenshots", json=registration, headers=server.headers("ann"))
    return response.status_code, response.get_json()


def listing(server: Server) -> list[dict[str, Any]]:
    response = server.client.get("/api/screenshots?username=ann&date=2026-12-02",
                                 headers=server.headers("boss"))
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.get_json()["screenshots"]
    return items


def test_each_monitor_s_image_of_one_moment_is_listed_with_its_monitor_and_size(server: Server) -> None:
    assert upload(server, "navy", (960, 1080), monitor=1)[0] == 201
    assert upload(server, "maroon", (1280, 1024), monitor=0)[0] == 201
    items = sorted(listing(server), key=lambda item: item["monitor"])
    shapes = [(item["monitor"], item["width"], item["height"]) for item in items]
    assert shapes == [(0, 1280, 1024), (1, 960, 1080)]
    assert {item["taken_at"] for item in items} == {TAKEN_AT.isoformat()}


def test_an_agent_that_sends_no_monitor_registers_monitor_zero(server: Server) -> None:
    assert upload(server, "teal", (64, 48))[0] == 201
    assert [item["monitor"] for item in listing(server)] == [0]


def test_a_bad_monitor_is_refused_with_a_400_naming_the_field(server: Server) -> None:
    for monitor in (16, -1, True, "0", None):
        status, body = upload(server, "olive", (64, 48), monitor=monitor)
        assert status == 400, monitor
        assert body["error"]["code"] == "validation_error" and "monitor" in body["error"]["fields"]
    assert listing(server) == []
