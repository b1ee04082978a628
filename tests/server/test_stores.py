"""The server's object-store rules: keys, every refusal of signing, S3 presigning, the local store."""

from __future__ import annotations

import base64
import hashlib
import io
import stat
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from contract.errors import RequestRefused
from contract.s3 import make_s3_client
from contract.screenshots import SignedUpload, object_key, parse_key, validate_registration
from server.context import make_object_store
from server.stores.local import LOCAL_URL_BASE, LocalObjectStore
from server.stores.s3 import S3ObjectStore
from server.stores.signing import sign_upload

NOW = datetime(2026, 11, 25, 18, 0, 0, tzinfo=UTC)
BODY = b"capture"
SHA = hashlib.sha256(BODY).hexdigest()
SECRET = b"server-secret-for-tests"


def own_key(username: str = "alice", prefix: str = "shots/") -> str:
    return object_key(prefix, username, NOW, SHA)


@pytest.fixture
def offline_s3(monkeypatch: pytest.MonkeyPatch) -> S3ObjectStore:
    """An S3 store whose client only presigns (presigning needs no network)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    client = make_s3_client("us-east-1", "http://127.0.0.1:9")
    return S3ObjectStore(client, "vinova-test", "shots/")


@pytest.fixture
def local_store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "screenshots", SECRET, "shots/")


# --------------------------------------------------------------------------- keys
def test_object_key_is_utc_dated_and_content_addressed() -> None:
    berlin = timezone(timedelta(hours=1))
    taken_at = datetime(2026, 1, 1, 0, 30, 5, tzinfo=berlin)  # 2025-12-31 23:30:05 UTC
    key = object_key("p/", "alice", taken_at, SHA)
    assert key == f"p/alice/2025/12/31/233005Z-{SHA[:16]}.jpg"


def test_object_key_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        object_key("", "alice", datetime(2026, 1, 1), SHA)


def test_parse_key_returns_the_parts_of_a_key() -> None:
    parsed = parse_key(own_key(), "shots/")
    assert parsed.username == "alice"
    assert parsed.taken_at == NOW
    assert parsed.digest16 == SHA[:16]


@pytest.mark.parametrize(
    "bad_key",
    [
        "shots/alice/2026/11/25/180000Z-abc.jpg",
        "shots/alice/2026/13/25/180000Z-0123456789abcdef.jpg",
        "shots/alice/../bob/2026/11/25/180000Z-0123456789abcdef.jpg",
        "shots/alice/2026/11/25/180000Z-0123456789abcdef.png",
        "other/alice/2026/11/25/180000Z-0123456789abcdef.jpg",
    ],
)
def test_parse_key_refuses_malformed_keys(bad_key: str) -> None:
    with pytest.raises(RequestRefused) as caught:
        parse_key(bad_key, "shots/")
    assert (caught.value.status, caught.value.code, caught.value.field) == (400, "validation_error", "key")


# --------------------------------------------------------------------------- sign_upload refusals
def sign(store: Any, **overrides: Any) -> SignedUpload:
    arguments: dict[str, Any] = {
        "username": "alice",
        "prefix": "shots/",
        "key": own_key(),
        "content_type": "image/jpeg",
        "size_bytes": 200_000,
        "now": NOW,
        "max_bytes": 1_000_000,
        "sha256": SHA,
    }
    arguments.update(overrides)
    return sign_upload(store, **arguments)


def test_sign_upload_refuses_another_users_prefix(offline_s3: S3ObjectStore) -> None:
    with pytest.raises(RequestRefused) as caught:
        sign(offline_s3, key=own_key("bob"))
    assert (caught.value.status, caught.value.code, caught.value.field) == (403, "forbidden", "key")


def test_sign_upload_refuses_a_username_that_merely_starts_like_the_callers(
    offline_s3: S3ObjectStore,
) -> None:
    with pytest.raises(RequestRefused) as caught:
        sign(offline_s3, key=own_key("alice2"))
    assert caught.value.status == 403


def test_sign_upload_refuses_a_key_outside_the_servers_prefix(offline_s3: S3ObjectStore) -> None:
    with pytest.raises(RequestRefused) as caught:
        sign(offline_s3, key=own_key(prefix=""))
    assert caught.value.code == "forbidden"


@pytest.mark.parametrize("content_type", ["image/png", "text/html", "", None, "image/jpeg; charset=x"])
def test_sign_upload_refuses_any_content_type_but_jpeg(offline_s3: S3ObjectStore, content_type: Any) -> None:
    with pytest.raises(RequestRefused) as caught:
        sign(offline_s3, content_type=content_type)
    assert (caught.value.status, caught.value.field) == (400, "content_type")


@pytest.mark.parametrize("size_bytes", [1_000_001, 0, -5, "100", True, 1.5])
def test_sign_upload_refuses_oversized_or_invalid_sizes(offline_s3: S3ObjectStore, size_bytes: Any) -> None:
    with pytest.raises(RequestRefused) as caught:
        sign(offline_s3, size_bytes=size_bytes)
    assert (caught.value.status, caught.value.code, caught.value.field) == (
        400,
        "validation_error",
        "size_bytes",
    )


def test_sign_upload_refuses_a_sha256_that_does_not_match_the_key(offline_s3: S3ObjectStore) -> None:
    other = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(RequestRefused) as caught:
        sign(offline_s3, sha256=other)
    assert caught.value.field == "sha256"


def test_refusal_maps_onto_the_api_error_body(offline_s3: S3ObjectStore) -> None:
    with pytest.raises(RequestRefused) as caught:
        sign(offline_s3, content_type="image/png")
    body = caught.value.to_json()
    assert body["error"]["code"] == "validation_error"  # type: ignore[index]
    assert set(body["error"]["fields"]) == {"content_type"}  # type: ignore[index]


# --------------------------------------------------------------------------- S3 presigning
def test_s3_presigned_put_expires_in_15_minutes_and_signs_type_length_and_checksum(
    offline_s3: S3ObjectStore,
) -> None:
    signed = sign(offline_s3)
    parts = urlsplit(signed.url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert parts.path == f"/vinova-test/{own_key()}"
    assert query["X-Amz-Expires"] == "900"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    signed_headers = query["X-Amz-SignedHeaders"].split(";")
    assert "content-type" in signed_headers
    assert "content-length" in signed_headers
    assert "x-amz-checksum-sha256" in signed_headers
    checksum = base64.b64encode(bytes.fromhex(SHA)).decode("ascii")
    assert signed.headers == {"Content-Type": "image/jpeg", "x-amz-checksum-sha256": checksum}
    assert signed.expires_at == NOW + timedelta(minutes=15)
    assert signed.mode == "s3"
    assert signed.to_json()["method"] == "PUT"


def test_s3_presigned_get_is_short_lived(offline_s3: S3ObjectStore) -> None:
    url = offline_s3.presign_get(own_key(), now=NOW)
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["300"]


def test_signed_upload_round_trips_through_json(offline_s3: S3ObjectStore) -> None:
    signed = sign(offline_s3)
    assert SignedUpload.from_json(signed.to_json()) == signed


# --------------------------------------------------------------------------- local store
def local_put(store: LocalObjectStore, url: str, body: bytes, **overrides: Any) -> int:
    parts = urlsplit(url)
    key = parts.path.removeprefix(LOCAL_URL_BASE)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    arguments: dict[str, Any] = {
        "content_type": "image/jpeg",
        "content_length": len(body),
        "body": io.BytesIO(body),
        "now": NOW + timedelta(minutes=1),
    }
    arguments.update(overrides)
    key = arguments.pop("key", key)
    query.update(arguments.pop("query", {}))
    return store.receive_local_put(key, query, **arguments)


def test_local_store_accepts_a_signed_put_and_writes_a_private_file(local_store: LocalObjectStore) -> None:
    body = BODY
    signed = sign(local_store, size_bytes=len(body), base_url="http://server:5000/")
    assert signed.url.startswith("http://server:5000/uploads/local/shots/alice/2026/11/25/")
    assert signed.mode == "local"
    written = local_put(local_store, signed.url, body)
    path = local_store.path_for(own_key())
    assert written == len(body)
    assert path.read_bytes() == body
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert local_store.object_size(own_key()) == len(body)


def test_local_put_after_expiry_is_refused(local_store: LocalObjectStore) -> None:
    signed = sign(local_store, size_bytes=len(BODY))
    with pytest.raises(RequestRefused) as caught:
        local_put(local_store, signed.url, BODY, now=NOW + timedelta(minutes=15, seconds=1))
    assert (caught.value.status, caught.value.code) == (403, "forbidden")
    assert "expired" in str(caught.value)
    assert local_store.object_size(own_key()) is None


def test_local_put_with_a_tampered_signature_or_expiry_is_refused(local_store: LocalObjectStore) -> None:
    signed = sign(local_store, size_bytes=len(BODY))
    for tampered in ({"signature": "0" * 64}, {"expires": str(int(NOW.timestamp()) + 10**6)}, {"size": "99"}):
        with pytest.raises(RequestRefused) as caught:
            local_put(local_store, signed.url, BODY, query=tampered)
        assert caught.value.status == 403
    assert local_store.object_size(own_key()) is None


def test_local_put_signature_does_not_carry_over_to_another_key(local_store: LocalObjectStore) -> None:
    signed = sign(local_store, size_bytes=len(BODY))
    with pytest.raises(RequestRefused) as caught:
        local_put(local_store, signed.url, BODY, key=own_key("bob"))
    assert caught.value.status == 403


def test_local_put_with_another_content_type_is_refused(local_store: LocalObjectStore) -> None:
    signed = sign(local_store, size_bytes=len(BODY))
    with pytest.raises(RequestRefused) as caught:
        local_put(local_store, signed.url, BODY, content_type="image/png")
    assert (caught.value.status, caught.value.field) == (400, "content_type")


def test_local_put_larger_than_signed_is_refused_even_when_the_length_lies(
    local_store: LocalObjectStore,
) -> None:
    signed = sign(local_store, size_bytes=len(BODY))
    with pytest.raises(RequestRefused) as declared:
        local_put(local_store, signed.url, BODY + b"xx")
    assert (declared.value.status, declared.value.code) == (413, "payload_too_large")
    signed = sign(local_store, size_bytes=len(BODY))
    with pytest.raises(RequestRefused) as lied:
        local_put(local_store, signed.url, BODY + b"xx", content_length=None)
    assert lied.value.status == 413
    leftovers = [path for path in local_store.root_dir.rglob("*") if path.is_file() and "#" not in str(path)]
    assert leftovers == []


def test_local_get_link_serves_until_it_expires(local_store: LocalObjectStore) -> None:
    signed = sign(local_store, size_bytes=len(BODY))
    local_put(local_store, signed.url, BODY)
    link = local_store.presign_get(own_key(), now=NOW)
    query = {name: values[0] for name, values in parse_qs(urlsplit(link).query).items()}
    served = local_store.verify_local_get(own_key(), query, now=NOW + timedelta(minutes=4))
    assert served.read_bytes() == BODY
    with pytest.raises(RequestRefused):
        local_store.verify_local_get(own_key(), query, now=NOW + timedelta(minutes=6))
    put_query = {name: values[0] for name, values in parse_qs(urlsplit(signed.url).query).items()}
    with pytest.raises(RequestRefused):
        local_store.verify_local_get(own_key(), put_query, now=NOW)  # a PUT link is not a GET link


@pytest.mark.parametrize("bad_key", ["../etc/passwd", "/abs.jpg", "a//b.jpg", "a\\b.jpg", ""])
def test_local_store_refuses_keys_that_escape_its_folder(local_store: LocalObjectStore, bad_key: str) -> None:
    with pytest.raises(RequestRefused):
        local_store.path_for(bad_key)


def test_local_delete_removes_the_file(local_store: LocalObjectStore) -> None:
    signed = sign(local_store, size_bytes=len(BODY))
    local_put(local_store, signed.url, BODY)
    local_store.delete(own_key())
    local_store.delete(own_key())  # absent is fine
    assert local_store.object_size(own_key()) is None


# --------------------------------------------------------------------------- registration
def test_local_put_of_other_bytes_than_signed_is_refused_and_nothing_is_kept(
    local_store: LocalObjectStore,
) -> None:
    signed = sign(local_store, size_bytes=len(BODY))
    with pytest.raises(RequestRefused) as caught:
        local_put(local_store, signed.url, b"X" * len(BODY))
    assert (caught.value.status, caught.value.code, caught.value.field) == (400, "validation_error", "sha256")
    assert local_store.object_size(own_key()) is None
    assert [path for path in local_store.path_for(own_key()).parent.glob("*")] == []


def test_local_put_shorter_than_signed_is_refused_naming_the_size(local_store: LocalObjectStore) -> None:
    signed = sign(local_store, size_bytes=len(BODY) + 5)
    with pytest.raises(RequestRefused) as caught:
        local_put(local_store, signed.url, BODY)
    assert (caught.value.status, caught.value.field) == (400, "size_bytes")
    assert local_store.object_size(own_key()) is None


def test_local_put_without_a_signed_sha256_still_checks_the_keys_digest(
    local_store: LocalObjectStore,
) -> None:
    signed = sign(local_store, size_bytes=len(BODY), sha256=None)
    assert "sha256=" not in signed.url
    with pytest.raises(RequestRefused) as caught:
        local_put(local_store, signed.url, b"Y" * len(BODY))
    assert caught.value.field == "sha256"
    again = sign(local_store, size_bytes=len(BODY), sha256=None)
    assert local_put(local_store, again.url, BODY) == len(BODY)


def test_a_local_put_link_works_once(local_store: LocalObjectStore) -> None:
    signed = sign(local_store, size_bytes=len(BODY))
    assert local_put(local_store, signed.url, BODY) == len(BODY)
    with pytest.raises(RequestRefused) as caught:
        local_put(local_store, signed.url, BODY)
    assert (caught.value.status, caught.value.code) == (409, "link_used")
    fresh = sign(local_store, size_bytes=len(BODY))
    assert local_put(local_store, fresh.url, BODY) == len(BODY)


def test_a_local_put_link_raced_by_many_threads_is_used_once(local_store: LocalObjectStore) -> None:
    signed = sign(local_store, size_bytes=len(BODY))
    outcomes: list[str] = []

    def attempt() -> None:
        try:
            local_put(local_store, signed.url, BODY)
            outcomes.append("stored")
        except RequestRefused as refused:
            outcomes.append(refused.code)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes) == ["link_used"] * 19 + ["stored"]


def test_marks_of_expired_links_are_swept(local_store: LocalObjectStore) -> None:
    signed = sign(local_store, size_bytes=len(BODY))
    local_put(local_store, signed.url, BODY)
    marks = local_store.root_dir / "#used-links"
    assert len(list(marks.iterdir())) == 1
    later = sign(local_store, size_bytes=len(BODY), now=NOW + timedelta(minutes=20))
    local_put(local_store, later.url, BODY, now=NOW + timedelta(minutes=21))
    assert len(list(marks.iterdir())) == 1


def registration(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": own_key(),
        "taken_at": (NOW + timedelta(microseconds=250_000)).isoformat(),
        "timezone": "Europe/Berlin",
        "blurred": True,
        "width": 1920,
        "height": 1080,
        "size_bytes": 123_456,
        "sha256": SHA,
    }
    body.update(overrides)
    return body


def test_registration_is_accepted_when_it_agrees_with_its_key() -> None:
    parsed = validate_registration(registration(), username="alice", prefix="shots/")
    assert parsed.key == own_key()
    assert parsed.taken_at.tzinfo is not None
    assert parse_key(parsed.key, "shots/").username == "alice"
    assert parsed.to_json() == {**registration(), "monitor": 0}  # an agent that sends none: monitor 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"taken_at": (NOW + timedelta(seconds=1)).isoformat()}, "taken_at"),
        ({"taken_at": "2026-11-25T18:00:00"}, "taken_at"),
        ({"sha256": hashlib.sha256(b"x").hexdigest()}, "sha256"),
        ({"width": 0}, "width"),
        ({"height": True}, "height"),
        ({"size_bytes": 10**9}, "size_bytes"),
        ({"blurred": "yes"}, "blurred"),
        ({"timezone": ""}, "timezone"),
        ({"key": own_key("bob")}, "key"),
    ],
)
def test_registration_names_the_field_that_is_wrong(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestRefused) as caught:
        validate_registration(registration(**overrides), username="alice", prefix="shots/")
    assert caught.value.field == field


# --------------------------------------------------------------------------- choosing
def test_make_object_store_is_local_without_a_bucket(tmp_path: Path) -> None:
    store = make_object_store({"S3_PREFIX": "p/"}, tmp_path, SECRET)
    assert isinstance(store, LocalObjectStore)
    assert store.root_dir == tmp_path / "screenshots"
    assert store.prefix == "p/"


def test_make_object_store_is_s3_with_a_bucket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    environ = {"S3_BUCKET": "b", "S3_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": "eu-west-1"}
    store = make_object_store(environ, tmp_path, SECRET)
    assert isinstance(store, S3ObjectStore)
    assert store.bucket == "b"
    assert store.mode == "s3"
    assert "eu-west-1" in store.presign_get("k.jpg", now=NOW)
