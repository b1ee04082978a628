"""This installation's device id: ``<agent_dir>/device.json``, made once, owner-only, read afterwards.

The id tells the server which of a person's machines a minute or a capture came from (issue 10,
item 1), so two machines of one user never overwrite each other's minutes. The file is
``{"id": "<32 lowercase hex>", "name": "<readable name>"}``; the name defaults to the host name
and ``VINOVA_DEVICE_NAME`` overrides it (the id never changes). A damaged file is moved aside and a
new id is made, said plainly in the log.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.private_files import write_private_file
from time_manager import utc_now

log = logging.getLogger(__name__)

DEVICE_FILE_NAME = "device.json"
DEVICE_ID_PATTERN = re.compile(r"^[0-9a-f]{32}\Z")
MAX_DEVICE_NAME_CHARACTERS = 64
FALLBACK_DEVICE_NAME = "this computer"


@dataclass(frozen=True, slots=True)
class Device:
    """One agent installation: a stable id and a name people can read."""

    device_id: str
    name: str

    def to_json(self) -> dict[str, str]:
        """The ``"device"`` object of ``POST /activity``."""
        return {"id": self.device_id, "name": self.name}


def device_name_error(name: Any) -> str | None:
    """Why ``name`` cannot be a device name (1..64 characters, no control characters), or None."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_DEVICE_NAME_CHARACTERS:
        return f"must be 1 to {MAX_DEVICE_NAME_CHARACTERS} characters"
    if any(ord(character) < 32 or 127 <= ord(character) < 160 for character in name):
        return "must not contain control characters"
    if any(0xD800 <= ord(character) <= 0xDFFF for character in name):
        return "must be valid text"
    return None


def default_device_name() -> str:
    """The host name, trimmed to a valid device name (a fallback when it has none)."""
    cleaned = "".join(c for c in socket.gethostname() if ord(c) >= 32 and not 127 <= ord(c) < 160)
    cleaned = cleaned.strip()[:MAX_DEVICE_NAME_CHARACTERS]
    return cleaned if device_name_error(cleaned) is None else FALLBACK_DEVICE_NAME


def load_or_create_device(agent_dir: Path, name: str | None = None) -> Device:
    """Read ``device.json`` (made on first use); ``name`` (VINOVA_DEVICE_NAME) renames the device.

    Call once at start, on the main thread; writes only when the file is new, damaged or renamed.
    """
    path = agent_dir / DEVICE_FILE_NAME
    stored = _read(path)
    wanted_name = name or (stored.name if stored is not None else default_device_name())
    if stored is not None and stored.name == wanted_name:
        return stored
    device = Device(stored.device_id if stored is not None else uuid.uuid4().hex, wanted_name)
    write_private_file(path, json.dumps(device.to_json(), sort_keys=True))
    if stored is None:
        log.info("this computer is device %r (id %s)", device.name, device.device_id)
    else:
        log.info("device renamed to %r", device.name)
    return device


def _read(path: Path) -> Device | None:
    """The stored device, or None when absent; a damaged file is moved aside (and None returned)."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        _move_damaged(path, f"cannot be read ({type(exc).__name__})")
        return None
    parsed = _parse(raw)
    if isinstance(parsed, str):
        _move_damaged(path, parsed)
        return None
    return parsed


def _parse(raw: str) -> Device | str:
    """The device in a file's text, or why the text is not one."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return "is not valid JSON"
    if not isinstance(data, dict):
        return "is not a JSON object"
    device_id, name = data.get("id"), data.get("name")
    if not isinstance(device_id, str) or DEVICE_ID_PATTERN.match(device_id) is None:
        return "has no valid id"
    if device_name_error(name) is not None:
        return "has no valid name"
    return Device(device_id, str(name))


def _move_damaged(path: Path, why: str) -> None:
    stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    try:
        path.replace(aside)
        where = f"moved aside to {aside.name}"
    except OSError as exc:
        where = f"could not be moved aside ({type(exc).__name__})"
    log.warning("the device file %s %s; it was %s and this computer gets a new device id", path, why, where)
