"""The spool folder's files on their own: each capture's JPEG and its sidecar, and rebuilding from them.

Each capture is ``<YYYYMMDD>T<HHMMSS>Z-<16 hex>.jpg`` with a sidecar ``….json`` holding what the
name cannot (the full key, time zone, blur flag, size). When agent.db lost its rows (damaged,
emptied or deleted — issue 10 item 7), :func:`rebuild_capture` turns a file back into a record:
the sha256 is recomputed from the bytes and must agree with the name; without a sidecar the key
is made from the key folder (``<prefix><username>/``) and the name, the size read from the JPEG.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contract.private_files import write_private_file
from contract.screenshots import MAX_MONITORS

logger = logging.getLogger(__name__)

SPOOL_NAME = re.compile(r"^(?P<date>\d{8})T(?P<time>\d{6})Z-(?P<digest>[0-9a-f]{16})\.jpg\Z")
# Without a sidecar the capture's zone is not known; UTC is the honest default.
UNKNOWN_TIMEZONE = "UTC"


@dataclass(frozen=True, slots=True)
class RebuiltCapture:
    """A capture's row made again from its spool file (``reason`` set when it must be kept aside)."""

    key: str
    file_name: str
    taken_at: datetime
    timezone: str
    blurred: bool
    width: int
    height: int
    size_bytes: int
    sha256: str
    reason: str | None = None
    monitor: int = 0


def sidecar_path(jpeg_path: Path) -> Path:
    """The sidecar of a spool file: the same name ending in ``.json``."""
    return jpeg_path.with_suffix(".json")


def write_sidecar(jpeg_path: Path, fields: dict[str, Any]) -> None:
    """Write the capture's registration fields next to its JPEG (0600, atomically)."""
    write_private_file(sidecar_path(jpeg_path), json.dumps(fields, sort_keys=True))


def _read_sidecar(jpeg_path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(sidecar_path(jpeg_path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return int(image.width), int(image.height)
    except (OSError, ValueError, UnidentifiedImageError):
        return None


def rebuild_capture(jpeg_path: Path, key_folder: str | None) -> RebuiltCapture | None:
    """A row for a spool file agent.db does not know; None when the file is not one of ours."""
    match = SPOOL_NAME.match(jpeg_path.name)
    if match is None:
        return None
    try:
        data = jpeg_path.read_bytes()
    except OSError:
        return None
    sha256_hex = hashlib.sha256(data).hexdigest()
    stamp = f"{match.group('date')}{match.group('time')}"
    named_at = datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    tail = f"{stamp[:4]}/{stamp[4:6]}/{stamp[6:8]}/{match.group('time')}Z-{match.group('digest')}.jpg"
    sidecar = _read_sidecar(jpeg_path)
    rebuilt = _from_sidecar(sidecar, tail, jpeg_path.name, len(data), sha256_hex) if sidecar else None
    if rebuilt is None:
        if key_folder is None:
            logger.warning("spool file %s has no record and no sidecar; left in place", jpeg_path.name)
            return None
        width, height = _jpeg_size(data) or (1, 1)
        rebuilt = RebuiltCapture(
            key=f"{key_folder}{tail}", file_name=jpeg_path.name, taken_at=named_at,
            timezone=UNKNOWN_TIMEZONE, blurred=False, width=width, height=height,
            size_bytes=len(data), sha256=sha256_hex,
        )
    if not sha256_hex.startswith(match.group("digest")):
        return _aside(rebuilt, "spool file corrupt")
    if _jpeg_size(data) is None:
        return _aside(rebuilt, "spool file is not a readable JPEG")
    return rebuilt


def _aside(rebuilt: RebuiltCapture, reason: str) -> RebuiltCapture:
    return RebuiltCapture(
        key=rebuilt.key, file_name=rebuilt.file_name, taken_at=rebuilt.taken_at, timezone=rebuilt.timezone,
        blurred=rebuilt.blurred, width=rebuilt.width, height=rebuilt.height, size_bytes=rebuilt.size_bytes,
        sha256=rebuilt.sha256, reason=reason, monitor=rebuilt.monitor,
    )


def _from_sidecar(
    sidecar: dict[str, Any], tail: str, file_name: str, size_bytes: int, sha256_hex: str
) -> RebuiltCapture | None:
    """The sidecar's fields when they describe this very file (its key's tail and its bytes)."""
    key, timezone, blurred = sidecar.get("key"), sidecar.get("timezone"), sidecar.get("blurred")
    width, height = sidecar.get("width"), sidecar.get("height")
    monitor = sidecar.get("monitor", 0)  # sidecars written before issue 13 have none: monitor 0
    if isinstance(monitor, bool) or not isinstance(monitor, int) or not 0 <= monitor < MAX_MONITORS:
        monitor = 0
    if not isinstance(key, str) or not key.endswith(tail) or sidecar.get("sha256") != sha256_hex:
        return None
    if not isinstance(timezone, str) or not isinstance(blurred, bool):
        return None
    if not isinstance(width, int) or not isinstance(height, int) or isinstance(width, bool):
        return None
    try:
        taken_at = datetime.fromisoformat(str(sidecar.get("taken_at"))).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return RebuiltCapture(
        key=key, file_name=file_name, taken_at=taken_at, timezone=timezone, blurred=blurred,
        width=int(width), height=int(height), size_bytes=size_bytes, sha256=sha256_hex, monitor=monitor,
    )
