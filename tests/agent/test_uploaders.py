"""The uploaders' error mapping: S3 errors and a signed PUT's answers through the one retry table."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.stub import Stubber
from spool_support import START, add_capture

from agent.spool import CaptureRecord, CaptureStore
from agent.uploaders import DirectS3Uploader, PresignedUploader, sha256_base64, store_error_code
from contract.errors import PermanentError, SessionExpired, TransientError
from contract.s3 import make_s3_client
from contract.screenshots import SignedUpload


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CaptureStore]:
    capture_store = CaptureStore(tmp_path / "agent")
    yield capture_store
    capture_store.close()


@pytest.fixture
def s3_client(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    return make_s3_client("us-east-1", "http://127.0.0.1:9")


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (500, "InternalError", TransientError),
        (503, "SlowDown", TransientError),
        (408, "RequestTimeout", TransientError),
        (429, "TooManyRequests", TransientError),
        (403, "AccessDenied", PermanentError),
        (400, "InvalidArgument", PermanentError),
        (404, "NoSuchBucket", PermanentError),
    ],
)
def test_direct_uploader_classifies_s3_errors(
    store: CaptureStore, s3_client: Any, status: int, code: str, expected: type[Exception]
) -> None:
    record = add_capture(store, 1)
    with Stubber(s3_client) as stubber:
        stubber.add_client_error("put_object", service_error_code=code, http_status_code=status)
        with pytest.raises(expected):
            DirectS3Uploader(s3_client, "bucket").put(record, b"data")


def test_direct_uploader_treats_an_unreachable_endpoint_as_transient(
    store: CaptureStore, s3_client: Any
) -> None:
    with pytest.raises(TransientError, match="unreachable"):
        DirectS3Uploader(s3_client, "bucket").put(add_capture(store, 1), b"data")


class ScriptedAdapter(requests.adapters.BaseAdapter):
    """A requests transport that answers from a script, never touching the network."""

    def __init__(self, answers: list[tuple[int, str, dict[str, str]] | Exception]) -> None:
        super().__init__()
        self.answers = answers
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, text, headers = answer
        response = requests.Response()
        response.status_code = status
        response._content = text.encode()
        response.headers.update(headers)
        response.request = request
        response.url = str(request.url)
        return response

    def close(self) -> None:
        pass


def presigned_uploader(answers: list[Any]) -> tuple[PresignedUploader, ScriptedAdapter]:
    adapter = ScriptedAdapter(answers)
    session = requests.Session()
    session.mount("http://", adapter)

    def sign(record: CaptureRecord) -> SignedUpload:
        return SignedUpload(
            url=f"http://store.invalid/{record.key}?X-Amz-Signature=secret",
            headers={"Content-Type": "image/jpeg"},
            expires_at=START + timedelta(minutes=15),
            mode="s3",
        )

    return PresignedUploader(sign, session), adapter


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ((500, "", {}), TransientError),
        ((502, "", {}), TransientError),
        ((503, "", {"Retry-After": "7"}), TransientError),
        ((408, "", {}), TransientError),
        ((429, "", {}), TransientError),
        ((401, "", {}), SessionExpired),
        ((403, "<Error><Code>SignatureDoesNotMatch</Code></Error>", {}), PermanentError),
        ((403, "<Error><Code>RequestTimeTooSkewed</Code></Error>", {}), TransientError),
        ((400, "", {}), PermanentError),
        ((413, "", {}), PermanentError),
        (requests.ConnectionError("refused"), TransientError),
        (requests.Timeout("slow"), TransientError),
    ],
)
def test_presigned_uploader_classifies_by_explicit_status(
    store: CaptureStore, answer: Any, expected: type[Exception]
) -> None:
    uploader, _ = presigned_uploader([answer])
    with pytest.raises(expected) as caught:
        uploader.put(add_capture(store, 1), b"jpeg")
    assert "secret" not in str(caught.value)
    if isinstance(answer, tuple) and "Retry-After" in answer[2]:
        assert isinstance(caught.value, TransientError) and caught.value.retry_after_seconds == 7.0


def test_presigned_uploader_puts_the_bytes_with_the_signed_headers(store: CaptureStore) -> None:
    uploader, adapter = presigned_uploader([(200, "", {})])
    record = add_capture(store, 1)
    uploader.put(record, b"jpeg bytes")
    sent = adapter.requests[0]
    assert sent.method == "PUT"
    assert sent.body == b"jpeg bytes"
    assert sent.headers["Content-Type"] == "image/jpeg"
    assert str(sent.url).startswith(f"http://store.invalid/{record.key}")


S3_EXPIRED = (
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>"
    "<Message>Request has expired</Message><X-Amz-Expires>900</X-Amz-Expires></Error>"
)
LOCAL_EXPIRED = '{"error": {"code": "forbidden", "message": "the link has expired"}}'


@pytest.mark.parametrize("refusal", [S3_EXPIRED, LOCAL_EXPIRED])
def test_an_expired_signed_url_is_signed_again_at_once(store: CaptureStore, refusal: str) -> None:
    uploader, adapter = presigned_uploader([(403, refusal, {}), (200, "", {})])
    uploader.put(add_capture(store, 1), b"jpeg")
    assert [sent.method for sent in adapter.requests] == ["PUT", "PUT"]


@pytest.mark.parametrize("refusal", [S3_EXPIRED, LOCAL_EXPIRED])
def test_a_fresh_url_refused_the_same_way_is_refused_for_good(store: CaptureStore, refusal: str) -> None:
    uploader, adapter = presigned_uploader([(403, refusal, {}), (403, refusal, {})])
    with pytest.raises(PermanentError, match="403"):
        uploader.put(add_capture(store, 1), b"jpeg")
    assert len(adapter.requests) == 2


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>", "SlowDown"),
        (b'{"error": {"code": "payload_too_large", "message": "too big"}}', "payload_too_large"),
        (b"<html>bad gateway</html>", None),
        (b"<Error><Code>", None),
        (b"not json", None),
        (b"", None),
    ],
)
def test_store_error_codes_are_read_from_explicit_fields(body: bytes, code: str | None) -> None:
    assert store_error_code(body) == code


# ---------------------------------------------------------------- issue 10 item 8: the store checks the bytes
def test_the_direct_uploader_asks_s3_to_verify_the_sha256(store: CaptureStore, s3_client: Any) -> None:
    record = add_capture(store, 1)
    expected = base64.b64encode(hashlib.sha256(record.path.read_bytes()).digest()).decode()
    assert sha256_base64(record.sha256) == expected
    with Stubber(s3_client) as stubber:
        stubber.add_response("put_object", {}, {
            "Bucket": "bucket", "Key": record.key, "Body": record.path.read_bytes(),
            "ContentType": "image/jpeg", "ChecksumSHA256": expected,
        })
        DirectS3Uploader(s3_client, "bucket").put(record, record.path.read_bytes())
        stubber.assert_no_pending_responses()


def test_a_signed_put_carries_exactly_the_headers_the_server_signed(store: CaptureStore) -> None:
    adapter = ScriptedAdapter([(200, "", {})])
    session = requests.Session()
    session.mount("http://", adapter)
    record = add_capture(store, 1)
    signed_headers = {"Content-Type": "image/jpeg", "x-amz-checksum-sha256": sha256_base64(record.sha256)}

    def sign(record: CaptureRecord) -> SignedUpload:
        return SignedUpload(url="http://store.invalid/put", headers=signed_headers,
                            expires_at=START + timedelta(minutes=15), mode="s3")

    PresignedUploader(sign, session).put(record, b"jpeg")
    sent = adapter.requests[0]
    assert {name: sent.headers[name] for name in signed_headers} == signed_headers
    assert "x-amz-sdk-checksum-algorithm" not in {name.lower() for name in sent.headers}


def test_a_key_the_server_already_holds_is_not_put_again(store: CaptureStore) -> None:
    adapter = ScriptedAdapter([])
    session = requests.Session()
    session.mount("http://", adapter)
    PresignedUploader(lambda record: None, session).put(add_capture(store, 1), b"jpeg")
    assert adapter.requests == []
