"""Thumbnails: their bytes (a JPEG ~320 px wide, aspect kept, a few KB), their cache next to the
original (second request reads the stored one) on the local store and on S3 over moto's server,
made on first view (not at registration) and then kept, served to admins only, deleted with the
screenshot."""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import S3Server, start_s3_server
from desktop_pictures import desktop_jpeg
from PIL import Image
from server_support import Server, ServerSetup, build_server

from contract.s3 import make_s3_client
from contract.screenshots import object_key
from server.stores.local import LocalObjectStore
from server.stores.objectstore import ObjectStore
from server.stores.s3 import S3ObjectStore
from server.stores.thumbnails import (
    THUMBNAIL_WIDTH_PX,
    NotAnImage,
    make_thumbnail,
    thumbnail_bytes,
    thumbnail_key,
)

NOW = datetime(2026, 11, 20, 15, 0, 30, tzinfo=UTC)
TAKEN = datetime(2026, 11, 20, 14, 3, 7, tzinfo=UTC)
BUCKET = "thumbs"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing-access-key", "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def decoded(jpeg: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(jpeg))
    image.load()
    return image


# --------------------------------------------------------------------------- the bytes
@pytest.mark.parametrize(("size", "expected"), [
    ((1920, 1080), (320, 180)), ((1366, 768), (320, 180)), ((2560, 1600), (320, 200)),
    ((1080, 1920), (320, 569)),
])
def test_a_thumbnail_is_a_jpeg_320_px_wide_with_the_aspect_kept(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    original = desktop_jpeg(3, *size)
    thumbnail = make_thumbnail(original)
    image = decoded(thumbnail)
    assert image.format == "JPEG" and image.mode == "RGB"
    assert image.size == expected and image.width == THUMBNAIL_WIDTH_PX
    assert abs(image.width / image.height - size[0] / size[1]) < 0.01
    assert len(thumbnail) < len(original) // 8  # a few KB, not hundreds
    if size[0] > size[1]:
        assert len(thumbnail) < 10_000  # 100 landscape captures stay under 1 MB


def test_a_thumbnail_looks_like_its_original() -> None:
    original = decoded(desktop_jpeg(5)).resize((320, 180))
    thumbnail = decoded(make_thumbnail(desktop_jpeg(5)))
    other = decoded(make_thumbnail(desktop_jpeg(6)))

    def distance(a: Image.Image, b: Image.Image) -> float:
        pixels = zip(a.convert("L").tobytes(), b.convert("L").tobytes(), strict=True)
        return sum(abs(x - y) for x, y in pixels) / (320 * 180)

    assert distance(original, thumbnail) < 8 < distance(original, other)


def test_a_small_capture_is_never_enlarged() -> None:
    image = decoded(make_thumbnail(desktop_jpeg(1, 200, 120)))
    assert image.size == (200, 120)


def test_bytes_that_are_no_image_are_refused_by_name() -> None:
    with pytest.raises(NotAnImage):
        make_thumbnail(b"\xff\xd8 not really a jpeg")


def test_the_thumbnail_key_sits_next_to_the_original() -> None:
    key = object_key("team/", "ann", TAKEN, "ab" * 32)
    assert thumbnail_key(key) == key.removesuffix(".jpg") + ".thumb.jpg"


# --------------------------------------------------------------------------- the cache, on both stores
@pytest.fixture(scope="module")
def moto() -> Iterator[S3Server]:
    """One moto S3 server for the module, with throwaway credentials in the environment."""
    patch = pytest.MonkeyPatch()
    for name, value in S3_ENV.items():
        patch.setenv(name, value)
    server = start_s3_server()
    try:
        make_s3_client("us-east-1", server.endpoint_url).create_bucket(Bucket=BUCKET)
        yield server
    finally:
        server.stop()
        patch.undo()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "screenshots", b"secret", "team/")
    server: S3Server = request.getfixturevalue("moto")
    prefix = f"team-{os.urandom(4).hex()}/"
    return S3ObjectStore(make_s3_client("us-east-1", server.endpoint_url), BUCKET, prefix)


def test_the_first_request_makes_and_stores_the_thumbnail_and_the_second_reads_it(store: ObjectStore) -> None:
    original = desktop_jpeg(7)
    key = object_key(store.prefix, "ann", TAKEN, hashlib.sha256(original).hexdigest())
    store.write_bytes(key, original, content_type="image/jpeg")
    assert store.read_bytes(thumbnail_key(key)) is None

    first = thumbnail_bytes(store, key)

    assert first is not None and decoded(first).width == 320
    assert store.read_bytes(thumbnail_key(key)) == first  # kept next to the original, in the same store
    assert store.object_size(thumbnail_key(key)) == len(first)
    store.delete(key)  # without the original, only the stored thumbnail can answer
    assert thumbnail_bytes(store, key) == first


def test_no_original_means_no_thumbnail(store: ObjectStore) -> None:
    key = object_key(store.prefix, "ann", TAKEN, "cd" * 32)
    assert thumbnail_bytes(store, key) is None
    assert store.read_bytes(thumbnail_key(key)) is None


def test_the_local_thumbnail_is_owner_only(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "screenshots", b"secret", "")
    original = desktop_jpeg(8)
    key = object_key("", "ann", TAKEN, hashlib.sha256(original).hexdigest())
    store.write_bytes(key, original, content_type="image/jpeg")
    thumbnail_bytes(store, key)
    path = store.path_for(thumbnail_key(key))
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700


# --------------------------------------------------------------------------- through the server
def register(server: Server, jpeg: bytes, *, base_url: str | None = None) -> str:
    """The agent's pipeline: sign, PUT (to the server or to S3), register; returns the key."""
    digest = hashlib.sha256(jpeg).hexdigest()
    key = object_key(server.context.object_store.prefix, "ann", TAKEN, digest)
    client = server.app.test_client()
    signed = client.post("/uploads/sign", headers=server.headers("ann"), json={
        "key": key, "content_type": "image/jpeg", "size_bytes": len(jpeg), "sha256": digest,
    }).get_json()
    if signed["mode"] == "s3":
        assert requests.put(signed["url"], data=jpeg, headers=signed["headers"], timeout=10).ok
    else:
        assert client.put(signed["url"], data=jpeg, headers=signed["headers"]).status_code == 201
    registered = client.post("/screenshots", headers=server.headers("ann"), json={
        "key": key, "taken_at": TAKEN.isoformat(), "timezone": "America/New_York", "blurred": False,
        "width": 1920, "height": 1080, "size_bytes": len(jpeg), "sha256": digest,
    })
    assert registered.status_code == 201, registered.get_json()
    return key


def screenshot_id(server: Server) -> int:
    html = server.admin_browser("root").get("/admin/diary/ann/2026-11-20").get_data(as_text=True)
    found = re.search(r'data-screenshot-id="(\d+)"', html)
    assert found is not None
    return int(found.group(1))


@pytest.fixture
def server_setup() -> ServerSetup:
    return ServerSetup(users={"root": True, "ann": False}, signed_in=True, start=NOW)


def check_served_and_deleted(server: Server, key: str) -> None:
    object_store = server.context.object_store
    assert object_store.read_bytes(thumbnail_key(key)) is None  # registration made none
    number = screenshot_id(server)
    browser = server.admin_browser("root")
    answer = browser.get(f"/admin/screenshots/{number}/thumbnail")
    assert answer.status_code == 200 and answer.mimetype == "image/jpeg"
    assert decoded(answer.data).size == (320, 180) and "private" in answer.headers["Cache-Control"]
    stored = object_store.read_bytes(thumbnail_key(key))
    assert stored == answer.data  # made on the first view, then kept next to the original
    again = browser.get(f"/admin/screenshots/{number}/thumbnail")
    assert again.status_code == 200 and again.data == stored

    anonymous = server.app.test_client().get(f"/admin/screenshots/{number}/thumbnail")
    assert anonymous.status_code == 302  # to the sign-in page
    missing = browser.get(f"/admin/screenshots/{number + 1000}/thumbnail")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"

    html = browser.get("/admin/diary/ann/2026-11-20").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert csrf is not None
    deleted = browser.post(f"/admin/screenshots/{number}/delete", data={"csrf_token": csrf.group(1)})
    assert deleted.status_code == 302
    assert object_store.read_bytes(thumbnail_key(key)) is None and object_store.object_size(key) is None


def test_the_thumbnail_is_made_on_first_view_then_kept_and_deleted_with_the_screenshot_locally(
    server: Server,
) -> None:
    key = register(server, desktop_jpeg(9))
    check_served_and_deleted(server, key)


def test_a_screenshot_whose_original_is_gone_answers_404_not_500(server: Server) -> None:
    key = register(server, desktop_jpeg(14))
    server.context.object_store.delete(key)
    answer = server.admin_browser("root").get(f"/admin/screenshots/{screenshot_id(server)}/thumbnail")
    assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "not_found"
    assert server.context.object_store.read_bytes(thumbnail_key(key)) is None


def test_a_thumbnail_lost_from_the_store_is_made_again_on_request(server: Server) -> None:
    key = register(server, desktop_jpeg(10))
    server.context.object_store.delete(thumbnail_key(key))
    answer = server.admin_browser("root").get(f"/admin/screenshots/{screenshot_id(server)}/thumbnail")
    assert answer.status_code == 200 and decoded(answer.data).width == 320
    assert server.context.object_store.read_bytes(thumbnail_key(key)) == answer.data


def test_a_non_admin_gets_no_thumbnail(server: Server) -> None:
    register(server, desktop_jpeg(11))
    number = screenshot_id(server)
    ann = server.app.test_client()
    with ann.session_transaction() as browser_session:
        browser_session["token"] = server.tokens["ann"]
    assert ann.get(f"/admin/screenshots/{number}/thumbnail").status_code == 403


@pytest.mark.integration
def test_the_thumbnail_is_made_on_first_view_in_s3_over_motos_server(
    moto: S3Server, tmp_path: Path, server_setup: ServerSetup
) -> None:
    settings: dict[str, Any] = {
        "S3_BUCKET": BUCKET, "S3_PREFIX": "served/", "S3_ENDPOINT_URL": moto.endpoint_url,
        "AWS_REGION": "us-east-1",
    }
    setup = replace(server_setup, overrides=settings)
    server = build_server(f"sqlite:///{tmp_path / 's.db'}", tmp_path, setup)
    try:
        server.clock.set(datetime.now(UTC))  # S3 signatures are checked against the real time
        key = register(server, desktop_jpeg(12))
        assert isinstance(server.context.object_store, S3ObjectStore)
        check_served_and_deleted(server, key)
    finally:
        server.close()


class BrokenStore:
    """A store whose reads answer but whose writes fail (a full disk, a bucket gone read-only)."""

    prefix = ""

    def __init__(self, original: bytes) -> None:
        self.original = original
        self.writes = 0

    def read_bytes(self, key: str) -> bytes | None:
        return None if key.endswith(".thumb.jpg") else self.original

    def write_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        self.writes += 1
        raise OSError("no space left on device")


def test_a_thumbnail_that_cannot_be_stored_is_still_served(caplog: pytest.LogCaptureFixture) -> None:
    key = "ann/2026/11/20/140307Z-0123456789abcdef.jpg"
    store = BrokenStore(desktop_jpeg(13))
    served = thumbnail_bytes(store, key)  # type: ignore[arg-type]  # only what it calls
    assert served is not None and decoded(served).width == 320
    assert store.writes == 1 and f"thumbnail of {key} made but not stored" in caplog.text


def test_an_original_that_is_no_image_gives_no_thumbnail() -> None:
    with pytest.raises(NotAnImage):
        thumbnail_bytes(BrokenStore(b"not an image"), "ann/x.jpg")  # type: ignore[arg-type]
