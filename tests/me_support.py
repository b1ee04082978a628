"""What the /me, export and retention tests share: uploading a capture through the real pipeline, minutes."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import datetime
from typing import Any

from flask.testing import FlaskClient
from PIL import Image
from server_support import Server

from contract.screenshots import object_key

ZONE = "Europe/Berlin"


def jpeg_bytes(colour: tuple[int, int, int] = (40, 90, 160), size: tuple[int, int] = (640, 360)) -> bytes:
    """A small JPEG."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def upload(
    server: Server, username: str, taken_at: datetime, colour: tuple[int, int, int] = (40, 90, 160)
) -> dict[str, Any]:
    """Sign, PUT and register one capture as ``username``; the registration answer (with ``id``)."""
    jpeg = jpeg_bytes(colour)
    digest = hashlib.sha256(jpeg).hexdigest()
    key = object_key(server.context.object_store.prefix, username, taken_at, digest)
    client = server.app.test_client()
    headers = server.headers(username)
    signed = client.post(
        "/uploads/sign", headers=headers,
        json={"key": key, "content_type": "image/jpeg", "size_bytes": len(jpeg), "sha256": digest},
    )
    assert signed.status_code == 200, signed.get_json()
    body = signed.get_json()
    if body["mode"] == "local":
        put = client.put(body["url"], data=jpeg, headers=body["headers"])
        assert put.status_code in (200, 201, 204), put.get_data(as_text=True)
    else:
        import requests

        assert requests.put(body["url"], data=jpeg, headers=body["headers"], timeout=30).ok
    registered = client.post(
        "/screenshots", headers=headers,
        json={"key": key, "taken_at": taken_at.isoformat(), "timezone": ZONE, "blurred": False,
              "width": 640, "height": 360, "size_bytes": len(jpeg), "sha256": digest},
    )
    assert registered.status_code == 201, registered.get_json()
    answer: dict[str, Any] = registered.get_json()
    return answer


def sample(minute_start: datetime, state: str = "tracking", active: int = 30) -> dict[str, Any]:
    """One minute as the agent sends it."""
    tracking = state == "tracking"
    return {
        "minute_start": minute_start.isoformat(), "active_seconds": active if tracking else 0,
        "keys": 4 if tracking else 0, "clicks": 2 if tracking else 0, "scrolls": 1 if tracking else 0,
        "mouse_px": 300 if tracking else 0, "state": state, "timezone": ZONE, "utc_offset_minutes": 60,
    }


def post_minutes(server: Server, username: str, samples: list[dict[str, Any]]) -> None:
    """POST /activity as ``username``; every sample must be accepted."""
    client = server.app.test_client()
    response = client.post("/activity", json={"samples": samples}, headers=server.headers(username))
    answer = response.get_json()
    assert response.status_code == 200 and answer["accepted"] == len(samples), answer


def set_config(server: Server, changes: dict[str, Any], username: str | None = None) -> None:
    """An admin (root) sets org defaults, or one person's overrides."""
    path = "/api/config" if username is None else f"/api/users/{username}/config"
    response = server.app.test_client().put(path, json=changes, headers=server.headers("root"))
    assert response.status_code == 200, response.get_json()


def csrf_of(html: str) -> str:
    """The CSRF token in a page's form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None, "no form with a CSRF token"
    return match.group(1)


def browser_of(server: Server, username: str) -> FlaskClient:
    """A test client whose session holds ``username``'s token (any account, admin or not)."""
    client = server.app.test_client()
    with client.session_transaction() as browser_session:
        browser_session["token"] = server.tokens[username]
    return client
