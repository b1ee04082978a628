"""Uploaders, one interface: the agent's own S3 credentials, or a PUT the server signs for each capture."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import requests

from agent.spool import CaptureRecord
from contract.errors import PermanentError, SessionExpired, TransientError
from contract.screenshots import JPEG_CONTENT_TYPE, SignedUpload

logger = logging.getLogger(__name__)


class Uploader(Protocol):
    """Puts one capture's bytes into the object store. Called on an upload thread; blocks on the network.

    Raises TransientError (retry later), PermanentError (keep aside) or SessionExpired (sign in again).
    """

    def put(self, record: CaptureRecord, data: bytes) -> None:
        """Store ``data`` under ``record.key``."""
        ...


def _retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class DirectS3Uploader:
    """PUTs with the agent's own boto3 client (``S3_BUCKET`` on the agent, standard AWS credentials)."""

    mode = "direct"

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put(self, record: CaptureRecord, data: bytes) -> None:
        """``put_object``; botocore errors become TransientError/PermanentError."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            self.client.put_object(
                Bucket=self.bucket, Key=record.key, Body=data, ContentType=JPEG_CONTENT_TYPE
            )
        except ClientError as exc:
            response = exc.response
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = response.get("Error", {}).get("Code", "")
            retry_after = _retry_after_seconds(
                response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after")
            )
            if isinstance(status, int) and (status >= 500 or status in (408, 429)):
                raise TransientError(f"S3 answered {status} {code}", retry_after) from exc
            if code in {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"}:
                raise TransientError(f"S3 answered {code}", retry_after) from exc
            raise PermanentError(f"S3 refused the upload: {status} {code}") from exc
        except NoCredentialsError as exc:
            raise PermanentError("no AWS credentials for the bucket (aws configure)") from exc
        except BotoCoreError as exc:
            # Connection refused/reset/closed, timeouts, DNS: all may pass.
            raise TransientError(f"S3 unreachable: {type(exc).__name__}") from exc


class PresignedUploader:
    """Asks the server to sign each PUT (``POST /uploads/sign``), then PUTs with ``requests``.

    ``sign`` is called on the upload thread and raises the same three errors as :class:`Uploader`.
    """

    mode = "server-signed"

    def __init__(
        self,
        sign: Callable[[CaptureRecord], SignedUpload],
        session: requests.Session,
        *,
        timeout_seconds: tuple[float, float] = (5.0, 60.0),
    ) -> None:
        self.sign = sign
        self.session = session
        self.timeout_seconds = timeout_seconds

    def put(self, record: CaptureRecord, data: bytes) -> None:
        """Sign, PUT, classify the answer by explicit status codes."""
        signed = self.sign(record)
        try:
            response = self.session.request(
                signed.method, signed.url, data=data, headers=signed.headers, timeout=self.timeout_seconds
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"upload of {record.key} failed: {type(exc).__name__}") from exc
        except requests.RequestException as exc:
            raise TransientError(f"upload of {record.key} failed: {type(exc).__name__}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
        if status >= 500 or status in (408, 429):
            raise TransientError(f"store answered {status}", retry_after)
        if status == 401:
            raise SessionExpired()
        if status == 403 and "expired" in response.text.lower():
            # A URL that outlived its 15 minutes (a long outage mid-PUT): sign again next time.
            raise TransientError("the signed URL expired", retry_after)
        raise PermanentError(f"store refused the upload: {status}")
