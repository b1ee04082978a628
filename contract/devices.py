"""The device of ``POST /activity``: which agent installation sent the minutes, and how that agent is doing.

Every agent installation keeps ``device.json`` (owner-only) with a stable 32-hex id and a readable
name; it sends them as ``"device"`` beside its samples, with an optional ``"agent"`` report (its
upload backlog and the health of its input listeners). Both sides build and check the bodies here
(docs/API.md "Activity"). An old agent that sends no device lands on the user's default device.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from contract.errors import ConfigError

logger = logging.getLogger(__name__)


DEVICE_ID_PATTERN = re.compile(r"^[0-9a-f]{32}\Z")


# The uid of the device old agents (no ``"device"`` in the body) are filed under.
DEFAULT_DEVICE_UID = "default"


DEFAULT_DEVICE_NAME = "default device"


MAX_DEVICE_NAME_LENGTH = 64


# The agent's counters are stored in 32-bit signed columns.
_MAX_AGENT_COUNT = 2**31 - 1


def text_error(value: Any, max_length: int) -> str | None:
    """Why ``value`` is not 1..max_length characters of printable, encodable text, or None."""
    if not isinstance(value, str):
        return "must be a string"
    if not 0 < len(value) <= max_length:
        return f"must be 1 to {max_length} characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (no lone surrogates)"
    if any(ord(character) < 32 or 127 <= ord(character) < 160 for character in value):
        return "must not contain control characters"
    return None


def device_id_error(value: Any) -> str | None:
    """Why ``value`` is not a device id (32 lowercase hex digits), or None."""
    if not isinstance(value, str) or DEVICE_ID_PATTERN.match(value) is None:
        return "must be 32 lowercase hex digits"
    return None


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """One agent installation: its stable id and its readable name."""

    id: str
    name: str

    def to_json(self) -> dict[str, str]:
        """The ``"device"`` object of a ``POST /activity`` body."""
        return {"id": self.id, "name": self.name}


def parse_device(raw: Any, field: str = "device") -> DeviceIdentity | None:
    """The optional ``"device"`` object (None when absent); ConfigError naming ``device.id`` or ``.name``."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError({field: "must be an object with id and name"})
    errors = {f"{field}.{key}": "unknown field" for key in raw if key not in {"id", "name"}}
    id_message = device_id_error(raw.get("id"))
    if id_message is not None:
        errors[f"{field}.id"] = id_message
    name_message = text_error(raw.get("name"), MAX_DEVICE_NAME_LENGTH)
    if name_message is not None:
        errors[f"{field}.name"] = name_message
    if errors:
        raise ConfigError(errors)
    return DeviceIdentity(id=str(raw["id"]), name=str(raw["name"]))


@dataclass(frozen=True, slots=True)
class AgentHealth:
    """The optional ``"agent"`` report: backlog and input-listener health; a None field was not sent."""

    uploads_waiting: int | None = None
    kept_aside: int | None = None
    minutes_set_aside: int | None = None
    input_ok: bool | None = None
    input_restarts: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``"agent"`` object (fields that are None are left out)."""
        values = {item.name: getattr(self, item.name) for item in fields(self)}
        return {name: value for name, value in values.items() if value is not None}


_COUNT_FIELDS = ("uploads_waiting", "kept_aside", "minutes_set_aside", "input_restarts")


def parse_agent_health(raw: Any, field: str = "agent") -> AgentHealth | None:
    """The optional ``"agent"`` object (None when absent); ConfigError naming each bad ``agent.<field>``."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError({field: "must be an object"})
    known = {*_COUNT_FIELDS, "input_ok"}
    errors = {f"{field}.{key}": "unknown field" for key in raw if key not in known}
    for name in _COUNT_FIELDS:
        value = raw.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            errors[f"{field}.{name}"] = "must be a whole number"
        elif not 0 <= value <= _MAX_AGENT_COUNT:
            errors[f"{field}.{name}"] = f"must be between 0 and {_MAX_AGENT_COUNT}"
    input_ok = raw.get("input_ok")
    if input_ok is not None and not isinstance(input_ok, bool):
        errors[f"{field}.input_ok"] = "must be true or false"
    if errors:
        raise ConfigError(errors)
    return AgentHealth(**{name: raw.get(name) for name in known})
