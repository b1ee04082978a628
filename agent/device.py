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
import socket
import uuid
from pathlib import Path
from typing import Any

from contract.devices import MAX_DEVICE_NAME_LENGTH, DeviceIdentity, device_id_error, text_error
from contract.private_files import write_private_file
from time_manager import utc_now

log = logging.getLogger(__name__)

DEVICE_FILE_NAME = "device.json"
FALLBACK_DEVICE_NAME = "this computer"

# The wire's device is the agent's own record of itself (contract/devices.py, docs/API.md "Activity").
Device = DeviceIdentity


def device_name_error(name: Any) -> str | None:
    """Why ``name`` cannot be a device name (the server's rule), or None."""
    return text_error(name, MAX_DEVICE_NAME_LENGTH)


def default_device_name() -> str:
    """The host name, trimmed to a valid device name (a fallback when it has none)."""
    cleaned = "".join(c for c in socket.gethostname() if ord(c) >= 32 and not 127 <= ord(c) < 160)
    cleaned = cleaned.strip()[:MAX_DEVICE_NAME_LENGTH]
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
    device = Device(stored.id if stored is not None else uuid.uuid4().hex, wanted_name)
    write_private_file(path, json.dumps(device.to_json(), sort_keys=True))
    if stored is None:
        log.info("this computer is device %r (id %s)", device.name, device.id)
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
    if device_id_error(device_id) is not None:
        return "has no valid id"
    if device_name_error(name) is not None:
        return "has no valid name"
    return Device(str(device_id), str(name))


def _move_damaged(path: Path, why: str) -> None:
    stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    try:
        path.replace(aside)
        where = f"moved aside to {aside.name}"
    except OSError as exc:
        where = f"could not be moved aside ({type(exc).__name__})"
    log.warning("the device file %s %s; it was %s and this computer gets a new device id", path, why, where)
