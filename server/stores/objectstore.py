"""Where the server keeps screenshots: the interface both stores implement, and their link lifetimes.

* :class:`server.stores.s3.S3ObjectStore` presigns PUT/GET URLs on any S3-compatible bucket; only the
  server holds the bucket credentials (standard AWS chain), so desktops carry no keys.
* :class:`server.stores.local.LocalObjectStore` keeps files under ``<VINOVA_DATA_DIR>/screenshots/``
  and hands out URLs on the server itself, authenticated by an HMAC.

:func:`server.context.make_object_store` picks one; :func:`server.stores.signing.sign_upload` holds the
rules of ``POST /uploads/sign``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from contract.screenshots import SignedUpload

UPLOAD_EXPIRY_SECONDS = 900
DOWNLOAD_EXPIRY_SECONDS = 300


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What the store tells of a stored object: its size and, where the store keeps one, its sha256 (hex)."""

    size_bytes: int
    sha256: str | None


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
        self, key: str, *, content_type: str, size_bytes: int, now: datetime, expires_seconds: int,
        sha256: str | None = None,
    ) -> SignedUpload:
        """A URL the agent can PUT exactly this object (these bytes, when ``sha256`` is given) to until
        ``now + expires_seconds``."""
        ...

    def presign_get(self, key: str, *, now: datetime, expires_seconds: int = DOWNLOAD_EXPIRY_SECONDS) -> str:
        """A short-lived GET link for an admin's browser."""
        ...

    def stored_object(self, key: str) -> StoredObject | None:
        """The stored object's size and sha256 (where the store can tell it) in one look; None when absent."""
        ...

    def object_size(self, key: str) -> int | None:
        """The stored size in bytes, or None when the object is absent."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object (absent is fine)."""
        ...

    def read_bytes(self, key: str) -> bytes | None:
        """The whole object (the server's own reads: thumbnails), or None when absent."""
        ...

    def write_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store ``data`` at ``key`` (the server's own writes: thumbnails), replacing any object there."""
        ...


def as_utc(now: datetime) -> datetime:
    """``now`` in UTC; refuses a naive datetime."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)
