"""The screenshot API over the local store and over a real S3 API (moto server over HTTP)."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from PIL import Image
from server_support import Server, ServerSetup, build_server
from support import live_server

from contract.screenshots import object_key

PASSWORD = "correct horse battery"
TAKEN_AT = datetime(2026, 11, 25, 14, 3, 7, tzinfo=UTC)


def jpeg_bytes(colour: str = "teal") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


@dataclass
class Capture:
    data: bytes
    sha256: str
    key: str

    def sign_body(self, **changes: Any) -> dict[str, Any]:
        return {"key": self.key, "content_type": "image/jpeg", "size_bytes": len(self.data),
                "sha256": self.sha256, **changes}

    def registration(self, **changes: Any) -> dict[str, Any]:
        return {"key": self.key, "taken_at": TAKEN_AT.isoformat(), "timezone": "Europe/Berlin",
                "blurred": True, "width": 64, "height": 48, "size_bytes": len(self.data),
                "sha256": self.sha256, **changes}


def make_capture(username: str = "ann", prefix: str = "", colour: str = "teal") -> Capture:
    data = jpeg_bytes(colour)
    digest = hashlib.sha256(data).hexdigest()
    return Capture(data, digest, object_key(prefix, username, TAKEN_AT, digest))


START = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


@pytest.fixture
def server_setup() -> ServerSetup:
    """A user (ann) and an admin (boss), both signed in; data under ``tmp_path/data``."""
    return ServerSetup(
        users={"ann": False, "boss": True}, signed_in=True, start=START, password=PASSWORD, data_subdir="data"
    )


def local_path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_local_mode_round_trip_stores_registers_lists_and_serves_the_image(
    server: Server, tmp_path: Path
) -> None:
    capture = make_capture()
    signed = server.client.post("/uploads/sign", json=capture.sign_body(), headers=server.headers("ann"))
    assert signed.status_code == 200, signed.get_json()
    body = signed.get_json()
    assert body["mode"] == "local" and body["method"] == "PUT"
    put = server.client.put(local_path_and_query(body["url"]), data=capture.data, headers=body["headers"])
    assert put.status_code == 201, put.get_json()
    stored = tmp_path / "data" / "screenshots" / capture.key
    assert stored.read_bytes() == capture.data
    assert stored.stat().st_mode & 0o777 == 0o600

    first = server.client.post("/screenshots", json=capture.registration(), headers=server.headers("ann"))
    again = server.client.post("/screenshots", json=capture.registration(), headers=server.headers("ann"))
    assert (first.status_code, again.status_code) == (201, 200)

    listing = server.client.get("/api/screenshots?username=ann&date=2026-11-25",
                                headers=server.headers("boss"))
    assert listing.status_code == 200
    items = listing.get_json()["screenshots"]
    assert [item["key"] for item in items] == [capture.key]
    assert items[0]["blurred"] is True
    with server.client.get(local_path_and_query(items[0]["url"])) as image:  # closes the sent file
        assert image.status_code == 200 and image.data == capture.data
        assert "no-store" in image.headers["Cache-Control"]

    server.clock.advance(minutes=6)  # the admin's link lives 5 minutes
    expired = server.client.get(local_path_and_query(items[0]["url"]))
    assert expired.status_code == 403


def test_a_signed_upload_url_expires_after_fifteen_minutes(server: Server) -> None:
    capture = make_capture()
    body = server.client.post("/uploads/sign", json=capture.sign_body(),
                              headers=server.headers("ann")).get_json()
    server.clock.advance(minutes=15, seconds=1)
    put = server.client.put(local_path_and_query(body["url"]), data=capture.data, headers=body["headers"])
    assert put.status_code == 403
    assert put.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"key": make_capture("boss").key}, 403, "key"),
        ({"key": "ann/2026/11/25/../../etc/passwd"}, 400, "key"),
        ({"content_type": "image/png"}, 400, "content_type"),
        ({"size_bytes": 50 * 1024 * 1024}, 400, "size_bytes"),
        ({"size_bytes": True}, 400, "size_bytes"),
        ({"sha256": "0" * 64}, 400, "sha256"),
    ],
)
def test_the_sign_endpoint_refuses_what_it_must(
    server: Server, changes: dict[str, Any], status: int, field: str
) -> None:
    response = server.client.post("/uploads/sign", json=make_capture().sign_body(**changes),
                                  headers=server.headers("ann"))
    assert response.status_code == status
    assert field in response.get_json()["error"]["fields"]


def test_a_put_that_breaks_its_signature_is_refused(server: Server) -> None:
    capture = make_capture()
    body = server.client.post("/uploads/sign", json=capture.sign_body(),
                              headers=server.headers("ann")).get_json()
    url = local_path_and_query(body["url"])
    wrong_type = server.client.put(url, data=capture.data, headers={"Content-Type": "image/png"})
    too_big = server.client.put(url, data=capture.data + b"x" * 10, headers=body["headers"])
    other_key = server.client.put(url.replace(capture.key, make_capture(colour="red").key),
                                  data=capture.data, headers=body["headers"])
    assert (wrong_type.status_code, too_big.status_code, other_key.status_code) == (400, 413, 403)


def test_registration_needs_the_upload_first_and_the_callers_own_key(server: Server) -> None:
    capture = make_capture()
    early = server.client.post("/screenshots", json=capture.registration(), headers=server.headers("ann"))
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "not_uploaded"
    others = make_capture("boss")
    foreign = server.client.post("/screenshots", json=others.registration(),
                                 headers=server.headers("ann"))
    assert foreign.status_code == 403
    unsigned = server.client.post("/screenshots", json=capture.registration())
    assert unsigned.status_code == 401


def test_only_admins_list_screenshots(server: Server) -> None:
    response = server.client.get("/api/screenshots?username=ann", headers=server.headers("ann"))
    assert response.status_code == 403
    unknown = server.client.get("/api/screenshots?username=nobody", headers=server.headers("boss"))
    assert unknown.status_code == 404


@pytest.mark.integration
def test_server_signed_mode_puts_into_a_real_s3_api_and_links_work(
    s3_server: Any, tmp_path: Path, server_setup: ServerSetup
) -> None:
    boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1").create_bucket(
        Bucket="shots"
    )
    s3_settings = {"S3_BUCKET": "shots", "S3_PREFIX": "team/", "S3_ENDPOINT_URL": s3_server.endpoint_url,
                   "AWS_REGION": "us-east-1"}
    server = build_server(
        f"sqlite:///{tmp_path / 's.db'}", tmp_path, replace(server_setup, overrides=s3_settings)
    )
    try:
        server.clock.set(datetime.now(UTC))  # S3 signatures are checked against the real time
        capture = make_capture(prefix="team/")
        with live_server(server.app) as url:
            signed = requests.post(f"{url}/uploads/sign", json=capture.sign_body(),
                                   headers=server.headers("ann"), timeout=10).json()
            assert signed["mode"] == "s3"
            query = urlsplit(signed["url"]).query
            assert "X-Amz-Expires=900" in query and "content-type" in query.lower()
            put = requests.put(signed["url"], data=capture.data, headers=signed["headers"], timeout=10)
            assert put.status_code == 200
            calls: list[str] = []  # what the server asks S3 while registering: one HEAD (size and checksum)
            server.context.object_store.client.meta.events.register(  # type: ignore[attr-defined]
                "before-call.s3", lambda event_name, **_: calls.append(event_name.rsplit(".", 1)[-1]))
            registered = requests.post(f"{url}/screenshots", json=capture.registration(),
                                       headers=server.headers("ann"), timeout=10)
            assert registered.status_code == 201
            assert calls == ["HeadObject"]
            listing = requests.get(f"{url}/api/screenshots", params={"username": "ann", "date": "2026-11-25"},
                                   headers=server.headers("boss"), timeout=10).json()
        link = listing["screenshots"][0]["url"]
        assert requests.get(link, timeout=10).content == capture.data
    finally:
        server.close()


@pytest.mark.parametrize("name", ["tz", "zone"])
def test_the_screenshot_list_reads_its_zone_from_tz_or_the_zone_alias(server: Server, name: str) -> None:
    listing = server.client.get(f"/api/screenshots?username=ann&date=2026-11-25&{name}=Asia/Kolkata",
                                headers=server.headers("boss"))
    assert listing.status_code == 200
    assert listing.get_json()["zone"] == "Asia/Kolkata"
    assert listing.get_json()["from"] == "2026-11-24T18:30:00+00:00"
    bad = server.client.get(f"/api/screenshots?username=ann&{name}=Mars/Olympus",
                            headers=server.headers("boss"))
    assert bad.status_code == 400 and set(bad.get_json()["error"]["fields"]) == {name}


# --------------------------------------------------------------------------- upload integrity (item 8)
def sign_and_put(server: Server, capture: Capture, data: bytes | None = None) -> tuple[dict[str, Any], int]:
    headers = server.headers("ann")
    body = server.client.post("/uploads/sign", json=capture.sign_body(), headers=headers).get_json()
    sent = capture.data if data is None else data
    put = server.client.put(local_path_and_query(body["url"]), data=sent, headers=body["headers"])
    return body, put.status_code


def test_a_registered_key_is_never_signed_again(server: Server) -> None:
    capture = make_capture()
    assert sign_and_put(server, capture)[1] == 201
    assert server.client.post("/screenshots", json=capture.registration(),
                              headers=server.headers("ann")).status_code == 201
    again = server.client.post("/uploads/sign", json=capture.sign_body(), headers=server.headers("ann"))
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "already_registered"
    assert "key" in again.get_json()["error"]["fields"]


def test_other_bytes_under_a_signed_url_are_refused_and_nothing_is_kept(
    server: Server, tmp_path: Path
) -> None:
    capture = make_capture()
    wrong = bytes(len(capture.data))  # the signed length, other bytes
    _, status = sign_and_put(server, capture, data=wrong)
    assert status == 400
    assert not (tmp_path / "data" / "screenshots" / capture.key).exists()
    assert sign_and_put(server, capture)[1] == 201  # a fresh link with the right bytes works


def test_the_same_local_upload_url_works_once(server: Server) -> None:
    capture = make_capture()
    body, status = sign_and_put(server, capture)
    assert status == 201
    second = server.client.put(local_path_and_query(body["url"]), data=capture.data, headers=body["headers"])
    assert second.status_code == 409 and second.get_json()["error"]["code"] == "link_used"


def test_registration_compares_the_stored_bytes_sha256(server: Server) -> None:
    capture = make_capture()
    assert sign_and_put(server, capture)[1] == 201
    other_sha = capture.sha256[:16] + "0" * 48
    response = server.client.post("/screenshots", json=capture.registration(sha256=other_sha),
                                  headers=server.headers("ann"))
    assert response.status_code == 400 and "sha256" in response.get_json()["error"]["fields"]


def test_the_sign_and_registration_bodies_take_an_optional_device_id(server: Server) -> None:
    capture = make_capture()
    headers = server.headers("ann")
    bad = server.client.post("/uploads/sign", json=capture.sign_body(device_id="PC"), headers=headers)
    assert bad.status_code == 400 and "device_id" in bad.get_json()["error"]["fields"]
    signed = server.client.post("/uploads/sign", json=capture.sign_body(device_id="c" * 32),
                                headers=server.headers("ann")).get_json()
    put = server.client.put(local_path_and_query(signed["url"]), data=capture.data, headers=signed["headers"])
    assert put.status_code == 201
    registered = server.client.post("/screenshots", json=capture.registration(device_id="c" * 32),
                                    headers=server.headers("ann"))
    assert registered.status_code == 201
