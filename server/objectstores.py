"""The server's screenshot store: key rules, upload signing with every refusal, S3 and local stores.

Two stores share one small interface (:class:`ObjectStore`):

* :class:`S3ObjectStore` presigns PUT/GET URLs on any S3-compatible bucket; only the server holds
  the bucket credentials (standard AWS chain), so desktops carry no keys.
* :class:`LocalObjectStore` keeps files under ``<VINOVA_DATA_DIR>/screenshots/`` and hands out
  URLs on the server itself, authenticated by an HMAC over (method, key, expiry, content type, size).

:func:`sign_upload` holds every rule of ``POST /uploads/sign`` (own prefix only, ``image/jpeg`` only,
a size cap, a 15-minute expiry) and raises :class:`errors.RequestRefused` with the HTTP status,
the stable code and the field to blame, so the Flask route stays a few lines.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import quote, urlencode

from contract.errors import RequestRefused
from contract.private_files import replacing
from contract.s3 import make_s3_client
from contract.screenshots import (
    DEFAULT_MAX_UPLOAD_BYTES,
    JPEG_CONTENT_TYPE,
    SHA256_HEX,
    SignedUpload,
    check_key_owner,
)

logger = logging.getLogger(__name__)

UPLOAD_EXPIRY_SECONDS = 900
DOWNLOAD_EXPIRY_SECONDS = 300
LOCAL_URL_BASE = "/uploads/local/"
_COPY_CHUNK_BYTES = 256 * 1024



# --------------------------------------------------------------------------- keys








# --------------------------------------------------------------------------- signed URLs


class ObjectStore(Protocol):
    """Where the server keeps screenshots. Methods may block on network or disk; call them per request."""

    @property
    def mode(self) -> str:
        """``"s3"`` or ``"local"``, as reported to the agent."""
        ...

    @property
    def prefix(self) -> str:
        """The key prefix (``S3_PREFIX``) every user's folder lives under."""
        ...

    def presign_put(
        self, key: str, *, content_type: str, size_bytes: int, now: datetime, expires_seconds: int
    ) -> SignedUpload:
        """A URL the agent can PUT exactly this object to until ``now + expires_seconds``."""
        ...

    def presign_get(self, key: str, *, now: datetime, expires_seconds: int = DOWNLOAD_EXPIRY_SECONDS) -> str:
        """A short-lived GET link for an admin's browser."""
        ...

    def object_size(self, key: str) -> int | None:
        """The stored size in bytes, or None when the object is absent."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object (absent is fine)."""
        ...


def _as_utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


# --------------------------------------------------------------------------- S3


class S3ObjectStore:
    """Screenshots in an S3 bucket; URLs are SigV4-presigned (content type and length are signed)."""

    mode = "s3"

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def presign_put(
        self,
        key: str,
        *,
        content_type: str = JPEG_CONTENT_TYPE,
        size_bytes: int,
        now: datetime,
        expires_seconds: int = UPLOAD_EXPIRY_SECONDS,
    ) -> SignedUpload:
        """A presigned PUT whose signature covers Content-Type and Content-Length."""
        url = self.client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ContentType": content_type,
                "ContentLength": size_bytes,
            },
            ExpiresIn=expires_seconds,
        )
        return SignedUpload(
            url=url,
            headers={"Content-Type": content_type},
            expires_at=_as_utc(now) + timedelta(seconds=expires_seconds),
            mode=self.mode,
        )

    def presign_get(self, key: str, *, now: datetime, expires_seconds: int = DOWNLOAD_EXPIRY_SECONDS) -> str:
        """A presigned GET link valid for ``expires_seconds``."""
        return str(
            self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_seconds
            )
        )

    def object_size(self, key: str) -> int | None:
        """HEAD the object; None when it does not exist."""
        from botocore.exceptions import ClientError

        try:
            answer = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                return None
            raise
        return int(answer["ContentLength"])

    def delete(self, key: str) -> None:
        """Delete the object (S3 treats an absent key as success)."""
        self.client.delete_object(Bucket=self.bucket, Key=key)


# --------------------------------------------------------------------------- local
@dataclass(frozen=True, slots=True)
class LocalUrlQuery:
    """The signed query of a local-store URL."""

    expires: int
    signature: str
    size_bytes: int | None = None
    content_type: str | None = None

    def encode(self) -> str:
        """As a URL query string (no leading ``?``)."""
        values: dict[str, str | int] = {"expires": self.expires}
        if self.size_bytes is not None:
            values["size"] = self.size_bytes
        if self.content_type is not None:
            values["type"] = self.content_type
        values["signature"] = self.signature
        return urlencode(values)


@dataclass(frozen=True, slots=True)
class LocalObjectStore:
    """Screenshots as files under ``root_dir`` (0700 dirs, 0600 files), served through HMAC-signed URLs."""

    root_dir: Path
    secret_key: bytes = field(repr=False)
    prefix: str = ""
    url_base: str = LOCAL_URL_BASE
    mode: str = "local"

    def path_for(self, key: str) -> Path:
        """The file of ``key``; refuses anything that would escape ``root_dir``."""
        parts = key.split("/")
        if not key or key.startswith("/") or any(part in {"", ".", ".."} for part in parts) or "\\" in key:
            raise RequestRefused("malformed key", status=400, code="validation_error", field="key")
        return self.root_dir.joinpath(*parts)

    def _signature(
        self, method: str, key: str, expires: int, content_type: str | None, size_bytes: int | None
    ) -> str:
        message = "\n".join([method, key, str(expires), content_type or "", str(size_bytes or "")])
        return hmac.new(self.secret_key, message.encode("utf-8"), hashlib.sha256).hexdigest()

    def local_put_url(self, key: str, expires_at: datetime, *, content_type: str, size_bytes: int) -> str:
        """The path+query a client PUTs ``key`` to; the HMAC binds method, key, expiry, type and size."""
        expires = int(_as_utc(expires_at).timestamp())
        query = LocalUrlQuery(
            expires=expires,
            signature=self._signature("PUT", key, expires, content_type, size_bytes),
            size_bytes=size_bytes,
            content_type=content_type,
        )
        return f"{self.url_base}{quote(key)}?{query.encode()}"

    def local_get_url(self, key: str, expires_at: datetime) -> str:
        """The path+query of a short-lived GET link for ``key``."""
        expires = int(_as_utc(expires_at).timestamp())
        query = LocalUrlQuery(expires=expires, signature=self._signature("GET", key, expires, None, None))
        return f"{self.url_base}{quote(key)}?{query.encode()}"

    def presign_put(
        self,
        key: str,
        *,
        content_type: str = JPEG_CONTENT_TYPE,
        size_bytes: int,
        now: datetime,
        expires_seconds: int = UPLOAD_EXPIRY_SECONDS,
    ) -> SignedUpload:
        """A signed PUT on this server (path+query; :func:`sign_upload` makes it absolute)."""
        expires_at = _as_utc(now) + timedelta(seconds=expires_seconds)
        url = self.local_put_url(key, expires_at, content_type=content_type, size_bytes=size_bytes)
        return SignedUpload(
            url=url, headers={"Content-Type": content_type}, expires_at=expires_at, mode=self.mode
        )

    def presign_get(self, key: str, *, now: datetime, expires_seconds: int = DOWNLOAD_EXPIRY_SECONDS) -> str:
        """A signed GET path+query valid for ``expires_seconds``."""
        return self.local_get_url(key, _as_utc(now) + timedelta(seconds=expires_seconds))

    def _check_signature(
        self,
        method: str,
        key: str,
        query: Mapping[str, str],
        now: datetime,
        content_type: str | None,
        size_bytes: int | None,
    ) -> int:
        """Verify expiry and HMAC; returns the expiry (epoch seconds)."""
        try:
            expires = int(query["expires"])
            signature = str(query["signature"])
        except (KeyError, ValueError) as exc:
            raise RequestRefused("the link is not signed", status=403, code="forbidden") from exc
        expected = self._signature(method, key, expires, content_type, size_bytes)
        if not hmac.compare_digest(expected, signature):
            raise RequestRefused("the link's signature does not match", status=403, code="forbidden")
        if _as_utc(now).timestamp() > expires:
            raise RequestRefused("the link has expired", status=403, code="forbidden")
        return expires

    def verify_local_put(
        self,
        key: str,
        query: Mapping[str, str],
        *,
        content_type: str | None,
        content_length: int | None,
        now: datetime,
    ) -> int:
        """Check a PUT against its signed URL; returns the signed size in bytes.

        Refuses (RequestRefused) a bad or expired signature (403), another content type (400) and a
        declared body over the signed size (413).
        """
        try:
            signed_size = int(query["size"])
            signed_type = str(query["type"])
        except (KeyError, ValueError) as exc:
            raise RequestRefused("the link is not signed", status=403, code="forbidden") from exc
        self._check_signature("PUT", key, query, now, signed_type, signed_size)
        actual_type = (content_type or "").split(";", 1)[0].strip().lower()
        if actual_type != signed_type:
            raise RequestRefused(
                f"content type must be {signed_type}",
                status=400,
                code="validation_error",
                field="content_type",
            )
        if content_length is not None and content_length > signed_size:
            raise RequestRefused(
                f"body is larger than the signed {signed_size} bytes",
                status=413,
                code="payload_too_large",
                field="size_bytes",
            )
        return signed_size

    def save_local(self, key: str, body: IO[bytes], *, max_bytes: int) -> int:
        """Write ``body`` to the key's file atomically (temp + fsync + rename, 0600); returns bytes written.

        Refuses (413) a body longer than ``max_bytes`` even when the client lied about its length.
        """
        target = self.path_for(key)
        _make_private_dirs(target.parent, self.root_dir)
        written = 0
        with replacing(target) as handle:
            while True:
                chunk = body.read(_COPY_CHUNK_BYTES)
                if not chunk:
                    break
                written += len(chunk)
                if written > max_bytes:
                    raise RequestRefused(
                        f"body is larger than the signed {max_bytes} bytes",
                        status=413,
                        code="payload_too_large",
                        field="size_bytes",
                    )
                handle.write(chunk)
        return written

    def receive_local_put(
        self,
        key: str,
        query: Mapping[str, str],
        *,
        content_type: str | None,
        content_length: int | None,
        body: IO[bytes],
        now: datetime,
    ) -> int:
        """The whole ``PUT /uploads/local/<key>`` rule: verify the signed URL, then save; returns bytes."""
        signed_size = self.verify_local_put(
            key, query, content_type=content_type, content_length=content_length, now=now
        )
        return self.save_local(key, body, max_bytes=signed_size)

    def verify_local_get(self, key: str, query: Mapping[str, str], *, now: datetime) -> Path:
        """Check a signed GET link; returns the file to send (404 not_found when absent)."""
        self._check_signature("GET", key, query, now, None, None)
        path = self.path_for(key)
        if not path.is_file():
            raise RequestRefused("no such screenshot", status=404, code="not_found")
        return path

    def object_size(self, key: str) -> int | None:
        """The file's size, or None when absent."""
        try:
            return self.path_for(key).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        """Remove the file (absent is fine)."""
        self.path_for(key).unlink(missing_ok=True)


def _make_private_dirs(directory: Path, root: Path) -> None:
    """Create ``directory`` (and parents up to and including ``root``) with mode 0700."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)


# --------------------------------------------------------------------------- rules of the routes
def sign_upload(
    store: ObjectStore,
    *,
    username: str,
    prefix: str,
    key: Any,
    content_type: Any,
    size_bytes: Any,
    now: datetime,
    max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    sha256: Any = None,
    base_url: str = "",
) -> SignedUpload:
    """Every rule of ``POST /uploads/sign``; returns the signed upload or raises RequestRefused.

    Refused: a malformed key (400 ``validation_error``/key), a key outside ``<prefix><username>/``
    (403 ``forbidden``/key), a content type other than image/jpeg (400/content_type), a size that is
    not a positive whole number or over ``max_bytes`` (400/size_bytes), a sha256 that is not 64 hex
    or does not match the key (400/sha256). The URL expires after 15 minutes. A relative (local
    store) URL is made absolute with ``base_url`` (e.g. Flask's ``request.host_url``).
    """
    parsed = check_key_owner(key, prefix=prefix, username=username)
    if content_type != JPEG_CONTENT_TYPE:
        raise RequestRefused(
            "content_type must be image/jpeg", status=400, code="validation_error", field="content_type"
        )
    if isinstance(size_bytes, bool) or not isinstance(size_bytes, int) or size_bytes <= 0:
        raise RequestRefused(
            "size_bytes must be a positive whole number",
            status=400,
            code="validation_error",
            field="size_bytes",
        )
    if size_bytes > max_bytes:
        raise RequestRefused(
            f"size_bytes must be at most {max_bytes}", status=400, code="validation_error", field="size_bytes"
        )
    if sha256 is not None:
        if not isinstance(sha256, str) or SHA256_HEX.match(sha256) is None:
            raise RequestRefused(
                "sha256 must be 64 lowercase hex digits", status=400, code="validation_error", field="sha256"
            )
        if sha256[:16] != parsed.digest16:
            raise RequestRefused(
                "sha256 does not match the key", status=400, code="validation_error", field="sha256"
            )
    signed = store.presign_put(
        key,
        content_type=JPEG_CONTENT_TYPE,
        size_bytes=size_bytes,
        now=now,
        expires_seconds=UPLOAD_EXPIRY_SECONDS,
    )
    logger.info("signed an upload for %s (%s store, %d bytes)", key, store.mode, size_bytes)
    if signed.url.startswith("/") and base_url:
        return SignedUpload(
            url=base_url.rstrip("/") + signed.url,
            headers=signed.headers,
            expires_at=signed.expires_at,
            mode=signed.mode,
            method=signed.method,
        )
    return signed






# --------------------------------------------------------------------------- choosing a store
def make_object_store(environ_like: Mapping[str, str], data_dir: Path, secret_key: bytes) -> ObjectStore:
    """S3 when ``S3_BUCKET`` is set (``S3_PREFIX``, ``AWS_REGION``, ``S3_ENDPOINT_URL``), else local files.

    The local store lives under ``<data_dir>/screenshots/``. Logs which one at start.
    """
    prefix = environ_like.get("S3_PREFIX", "")
    bucket = environ_like.get("S3_BUCKET", "").strip()
    if bucket:
        endpoint_url = environ_like.get("S3_ENDPOINT_URL") or None
        region = environ_like.get("AWS_REGION") or environ_like.get("AWS_DEFAULT_REGION") or None
        client = make_s3_client(region, endpoint_url)
        logger.info(
            "screenshots go to S3 bucket %s (prefix %r, endpoint %s)", bucket, prefix, endpoint_url or "AWS"
        )
        return S3ObjectStore(client, bucket, prefix)
    root = data_dir / "screenshots"
    logger.info("screenshots are stored on this server under %s (no S3_BUCKET set)", root)
    return LocalObjectStore(root, secret_key, prefix)
