"""Uploaders, one interface, two ways: the agent's own S3 credentials, or a PUT the server signs.

Both classify a failed PUT with the one retry table (:mod:`contract.retry`, ``STORE_CODES``).
"""

from __future__ import annotations

import base64
import json
import logging
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from typing import Any, Protocol

import requests

from agent.spool import CaptureRecord
from contract.errors import PermanentError, SessionExpired, TransientError
from contract.retry import REFUSE, RESIGN, RETRY, SIGN_IN, STORE_CODES, Outcome, classify, retry_after_seconds
from contract.screenshots import JPEG_CONTENT_TYPE, SignedUpload

logger = logging.getLogger(__name__)


class Uploader(Protocol):
    """Puts one capture's bytes into the object store. Called on an upload thread; blocks on the network.

    Raises TransientError (retry later), PermanentError (keep aside) or SessionExpired (sign in again).
    """

    def put(self, record: CaptureRecord, data: bytes) -> None:
        """Store ``data`` under ``record.key``."""
        ...


def store_error_code(body: bytes) -> str | None:
    """The stable code of an object store's error body: S3's XML ``<Code>`` or the local store's JSON."""
    text = body.strip()
    if text.startswith(b"<"):
        try:
            root = ElementTree.fromstring(text)  # noqa: S314 - the answer of our own object store
        except ElementTree.ParseError:
            return None
        element = root if root.tag == "Code" else root.find("Code")
        return element.text if element is not None and element.text else None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def sha256_base64(sha256_hex: str) -> str:
    """The base64 of a sha256 digest given in hex: the form S3's checksum headers take."""
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")


class DirectS3Uploader:
    """PUTs with the agent's own boto3 client (``S3_BUCKET`` on the agent, standard AWS credentials)."""

    mode = "direct"

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put(self, record: CaptureRecord, data: bytes) -> None:
        """``put_object``; botocore errors become TransientError/PermanentError by the retry table."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=record.key,
                Body=data,
                ContentType=JPEG_CONTENT_TYPE,
                ChecksumSHA256=sha256_base64(record.sha256),
            )
        except ClientError as exc:
            metadata = exc.response.get("ResponseMetadata", {})
            status = metadata.get("HTTPStatusCode")
            code = exc.response.get("Error", {}).get("Code", "")
            outcome = classify(status if isinstance(status, int) else 400, code, STORE_CODES)
            if outcome is RETRY:
                retry_after = retry_after_seconds(metadata.get("HTTPHeaders", {}).get("retry-after"))
                raise TransientError(f"S3 answered {status} {code}", retry_after) from exc
            # botocore signs every request afresh: a stale signature (RESIGN) cannot be renewed here.
            raise PermanentError(f"S3 refused the upload: {status} {code}") from exc
        except NoCredentialsError as exc:
            raise PermanentError("no AWS credentials for the bucket (aws configure)") from exc
        except BotoCoreError as exc:
            # Connection refused/reset/closed, timeouts, DNS: all may pass.
            raise TransientError(f"S3 unreachable: {type(exc).__name__}") from exc


class PresignedUploader:
    """Asks the server to sign each PUT (``POST /uploads/sign``), then PUTs with ``requests``.

    ``sign`` is called on the upload thread and raises the same three errors as :class:`Uploader`;
    it returns None when the server already holds the key (then the upload is done). A RESIGN
    answer (an expired or stale URL) is signed again and PUT once more at once; a fresh URL
    refused the same way is refused for good.
    """

    mode = "server-signed"

    def __init__(
        self,
        sign: Callable[[CaptureRecord], SignedUpload | None],
        session: requests.Session,
        *,
        timeout_seconds: tuple[float, float] = (5.0, 60.0),
    ) -> None:
        self.sign = sign
        self.session = session
        self.timeout_seconds = timeout_seconds

    def put(self, record: CaptureRecord, data: bytes) -> None:
        """Sign, PUT, classify the answer by its status and the store's error code."""
        outcome, status, code, retry_after = self._put_once(record, data)
        if outcome is RESIGN:
            logger.info("the store refused a signed URL (%s %s); signing it again", status, code)
            outcome, status, code, retry_after = self._put_once(record, data)
            if outcome is RESIGN:
                outcome = REFUSE
        if outcome is None:
            return
        if outcome is RETRY:
            raise TransientError(f"store answered {status} {code or ''}".rstrip(), retry_after)
        if outcome is SIGN_IN:
            raise SessionExpired()
        raise PermanentError(f"store refused the upload: {status} {code or ''}".rstrip())

    def _put_once(
        self, record: CaptureRecord, data: bytes
    ) -> tuple[Outcome | None, int | None, str | None, float | None]:
        """One signed PUT: (outcome or None on success, status, store error code, Retry-After)."""
        signed = self.sign(record)
        if signed is None:
            logger.info("the server already holds %s; nothing to upload", record.key)
            return None, None, None, None
        try:
            response = self.session.request(
                signed.method, signed.url, data=data, headers=signed.headers, timeout=self.timeout_seconds
            )
        except requests.RequestException as exc:
            # The exception's text may carry the URL and its signature: only its type is reported.
            raise TransientError(f"upload of {record.key} failed: {type(exc).__name__}") from exc
        status = response.status_code
        code = store_error_code(response.content) if status >= 400 else None
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return classify(status, code, STORE_CODES), status, code, retry_after
