"""The screenshot contract: object-key rules, content type, the signed-upload answer, the registration."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from contract.devices import device_id_error, text_error
from contract.errors import RequestRefused

logger = logging.getLogger(__name__)


JPEG_CONTENT_TYPE = "image/jpeg"


DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# One image per monitor, numbered 0.. left to right; a desk with more is cut to the first 16.
MAX_MONITORS = 16


# <prefix><username>/<YYYY>/<MM>/<DD>/<HHMMSS>Z-<16 hex>.jpg; \Z, not $: "$" admits a trailing newline.
_KEY_TAIL = re.compile(
    r"^(?P<username>[A-Za-z0-9._@+-]{1,128})/(?P<year>\d{4})/(?P<month>\d{2})/(?P<day>\d{2})/"
    r"(?P<hour>\d{2})(?P<minute>\d{2})(?P<second>\d{2})Z-(?P<digest>[0-9a-f]{16})\.jpg\Z"
)


SHA256_HEX = re.compile(r"^[0-9a-f]{64}\Z")


def object_key(prefix: str, username: str, taken_at: datetime, sha256_hex: str) -> str:
    """``<prefix><username>/<YYYY>/<MM>/<DD>/<HHMMSS>Z-<first 16 hex of sha256>.jpg`` in UTC.

    The same capture always maps to the same key, so a retried upload overwrites, never duplicates.
    """
    if taken_at.tzinfo is None:
        raise ValueError("taken_at must be timezone-aware")
    moment = taken_at.astimezone(UTC)
    return f"{prefix}{username}/{moment:%Y/%m/%d}/{moment:%H%M%S}Z-{sha256_hex[:16].lower()}.jpg"


@dataclass(frozen=True, slots=True)
class ParsedKey:
    """The parts of a well-formed object key."""

    username: str
    taken_at: datetime
    digest16: str


def parse_key(key: Any, prefix: str) -> ParsedKey:
    """Split a key into its parts; RequestRefused(400 validation_error, field ``key``) when malformed."""
    if not isinstance(key, str):
        raise RequestRefused("key must be a string", status=400, code="validation_error", field="key")
    if not key.startswith(prefix):
        raise RequestRefused(
            f"key must start with {prefix!r}", status=400, code="validation_error", field="key"
        )
    match = _KEY_TAIL.match(key[len(prefix) :])
    if match is None:
        raise RequestRefused(
            "key must look like <username>/<YYYY>/<MM>/<DD>/<HHMMSS>Z-<16 hex>.jpg",
            status=400,
            code="validation_error",
            field="key",
        )
    parts = {name: int(match.group(name)) for name in ("year", "month", "day", "hour", "minute", "second")}
    try:
        taken_at = datetime(**parts, tzinfo=UTC)
    except ValueError as exc:
        raise RequestRefused(
            "key has an impossible date or time", status=400, code="validation_error", field="key"
        ) from exc
    return ParsedKey(match.group("username"), taken_at, match.group("digest"))


def check_key_owner(key: Any, *, prefix: str, username: str) -> ParsedKey:
    """Parse ``key`` and refuse it (403 forbidden) unless it lies under ``<prefix><username>/``."""
    if not isinstance(key, str):
        raise RequestRefused("key must be a string", status=400, code="validation_error", field="key")
    own = f"{prefix}{username}/"
    if not key.startswith(own):
        raise RequestRefused(
            "key is outside your own screenshot folder", status=403, code="forbidden", field="key"
        )
    parsed = parse_key(key, prefix)
    if parsed.username != username:
        raise RequestRefused(
            "key is outside your own screenshot folder", status=403, code="forbidden", field="key"
        )
    return parsed


@dataclass(frozen=True, slots=True)
class SignedUpload:
    """Where and how to PUT one capture: the answer of ``POST /uploads/sign``."""

    url: str
    headers: dict[str, str]
    expires_at: datetime
    mode: str
    method: str = "PUT"

    def to_json(self) -> dict[str, Any]:
        """The JSON body of docs/API.md."""
        return {
            "method": self.method,
            "url": self.url,
            "headers": dict(self.headers),
            "expires_at": self.expires_at.isoformat(),
            "mode": self.mode,
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> SignedUpload:
        """Build from the JSON body of ``POST /uploads/sign`` (the agent's side)."""
        return cls(
            url=str(body["url"]),
            headers={str(name): str(value) for name, value in dict(body.get("headers", {})).items()},
            expires_at=datetime.fromisoformat(str(body["expires_at"])),
            mode=str(body.get("mode", "s3")),
            method=str(body.get("method", "PUT")),
        )


@dataclass(frozen=True, slots=True)
class ScreenshotRegistration:
    """The body of ``POST /screenshots``: the agent builds it from a capture, the server validates it."""

    key: str
    taken_at: datetime
    timezone: str
    blurred: bool
    width: int
    height: int
    size_bytes: int
    sha256: str
    device_id: str | None = None
    monitor: int = 0

    def to_json(self) -> dict[str, Any]:
        """The JSON body of docs/API.md (``taken_at`` as ISO 8601 with its offset; no device: left out)."""
        device = {} if self.device_id is None else {"device_id": self.device_id}
        return {
            **device,
            "key": self.key,
            "taken_at": self.taken_at.isoformat(),
            "timezone": self.timezone,
            "blurred": self.blurred,
            "width": self.width,
            "height": self.height,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "monitor": self.monitor,
        }


def validate_registration(
    body: Any, *, username: str, prefix: str, max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
) -> ScreenshotRegistration:
    """Check a ``POST /screenshots`` body; RequestRefused naming the first bad field.

    The key must be the caller's own and agree with ``taken_at`` (same UTC second) and ``sha256``.
    ``monitor`` is optional (0 for agents that send one image of every screen).
    """
    if not isinstance(body, Mapping):
        raise RequestRefused("body must be a JSON object", status=400, code="bad_request")
    parsed = check_key_owner(body.get("key"), prefix=prefix, username=username)

    def refuse(name: str, message: str) -> RequestRefused:
        return RequestRefused(f"{name} {message}", status=400, code="validation_error", field=name)

    raw_taken_at = body.get("taken_at")
    if not isinstance(raw_taken_at, str):
        raise refuse("taken_at", "must be an ISO 8601 time with an offset")
    try:
        taken_at = datetime.fromisoformat(raw_taken_at)
    except ValueError as exc:
        raise refuse("taken_at", "must be an ISO 8601 time with an offset") from exc
    if taken_at.tzinfo is None:
        raise refuse("taken_at", "must carry a UTC offset")
    try:
        taken_at = taken_at.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+14:00 lies before year 1 in UTC
        raise refuse("taken_at", "is out of range") from exc
    if taken_at.replace(microsecond=0) != parsed.taken_at:
        raise refuse("taken_at", "does not match the key")
    timezone_name = body.get("timezone")
    if text_error(timezone_name, 64) is not None:
        raise refuse("timezone", "must be a time zone name")
    device_id = body.get("device_id")
    if device_id is not None and device_id_error(device_id) is not None:
        raise refuse("device_id", "must be 32 lowercase hex digits")
    blurred = body.get("blurred")
    if not isinstance(blurred, bool):
        raise refuse("blurred", "must be true or false")
    numbers: dict[str, int] = {}
    for name, upper in (("width", 65535), ("height", 65535), ("size_bytes", max_bytes)):
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= upper:
            raise refuse(name, f"must be a whole number between 1 and {upper}")
        numbers[name] = value
    sha256 = body.get("sha256")
    if not isinstance(sha256, str) or SHA256_HEX.match(sha256) is None:
        raise refuse("sha256", "must be 64 lowercase hex digits")
    if sha256[:16] != parsed.digest16:
        raise refuse("sha256", "does not match the key")
    monitor = body.get("monitor", 0)
    if isinstance(monitor, bool) or not isinstance(monitor, int) or not 0 <= monitor < MAX_MONITORS:
        raise refuse("monitor", f"must be a whole number between 0 and {MAX_MONITORS - 1}")
    return ScreenshotRegistration(
        key=body["key"],
        taken_at=taken_at,
        timezone=str(timezone_name),
        blurred=blurred,
        width=numbers["width"],
        height=numbers["height"],
        size_bytes=numbers["size_bytes"],
        sha256=sha256,
        device_id=device_id,
        monitor=monitor,
    )
