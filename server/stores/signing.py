"""The rules of ``POST /uploads/sign``: each refusal carries the HTTP status, stable code and field."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from contract.errors import RequestRefused
from contract.screenshots import (
    DEFAULT_MAX_UPLOAD_BYTES,
    JPEG_CONTENT_TYPE,
    SHA256_HEX,
    SignedUpload,
    check_key_owner,
)
from server.stores.objectstore import UPLOAD_EXPIRY_SECONDS, ObjectStore

logger = logging.getLogger(__name__)


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
    not a positive whole number or over ``max_bytes`` (400/size_bytes), a sha256 that is not 64 hex,
    does not match the key or is missing for an S3 store (400/sha256). The URL expires after 15
    minutes. A relative (local store) URL is made absolute with ``base_url`` (e.g. Flask's
    ``request.host_url``).
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
    elif store.mode == "s3":
        # Only the signed checksum binds an S3 PUT to the bytes (the local store checks the key's
        # digits on receipt): unsigned, SeaweedFS kept other bytes of the size and no checksum.
        raise RequestRefused("sha256 is required", status=400, code="validation_error", field="sha256")
    signed = store.presign_put(
        key,
        content_type=JPEG_CONTENT_TYPE,
        size_bytes=size_bytes,
        now=now,
        expires_seconds=UPLOAD_EXPIRY_SECONDS,
        sha256=sha256,
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
