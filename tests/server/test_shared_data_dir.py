"""Several nodes on the local store: with one shared VINOVA_DATA_DIR a screenshot flows across nodes.

Two apps on one database and one data folder (as two nodes mounting the same folder): a link signed
by one node is taken by the other, works once across both, and the image is served by either.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image
from server_support import Server, ServerSetup, make_app

from contract.screenshots import object_key
from server.context import services_of

PASSWORD = "correct horse battery"
START = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
TAKEN_AT = datetime(2026, 11, 25, 14, 3, 7, tzinfo=UTC)


def local_path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def jpeg() -> tuple[bytes, str, str]:
    """A small JPEG, its sha256 and ann's key for it."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(buffer, "JPEG", quality=70)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    return data, digest, object_key("", "ann", TAKEN_AT, digest)


@pytest.fixture
def server_setup() -> ServerSetup:
    """A user (ann) and an admin (boss), both signed in on the first node."""
    return ServerSetup(
        users={"ann": False, "boss": True}, signed_in=True, start=START, password=PASSWORD,
        data_subdir="shared",
    )


@pytest.fixture
def second_node(server: Server, database_url: str) -> Any:
    """Another node on the same database, the same data folder, secret key and clock."""
    node = make_app(database_url, server.data_dir, clock=server.clock)
    yield node
    services_of(node).database.dispose()


def test_a_screenshot_signed_on_one_node_is_put_registered_and_served_across_nodes(
    server: Server, second_node: Any, tmp_path: Path
) -> None:
    first, second = server.client, second_node.test_client()
    data, digest, key = jpeg()
    sign_body = {"key": key, "content_type": "image/jpeg", "size_bytes": len(data), "sha256": digest}
    signed = first.post("/uploads/sign", json=sign_body, headers=server.headers("ann")).get_json()
    link = local_path_and_query(signed["url"])
    assert second.put(link, data=data, headers=signed["headers"]).status_code == 201
    again = first.put(link, data=data, headers=signed["headers"])
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "link_used"  # once, over both
    registration = {"key": key, "taken_at": TAKEN_AT.isoformat(), "timezone": "UTC", "blurred": True,
                    "width": 64, "height": 48, "size_bytes": len(data), "sha256": digest}
    registered = first.post("/screenshots", json=registration, headers=server.headers("ann"))
    assert registered.status_code == 201
    listing = second.get("/api/screenshots?username=ann&date=2026-11-25", headers=server.headers("boss"))
    [item] = listing.get_json()["screenshots"]
    with first.get(local_path_and_query(item["url"])) as image:
        assert image.status_code == 200 and image.data == data
    assert (tmp_path / "shared" / "screenshots" / key).read_bytes() == data
