"""The configuration schema: the server validates every edit with it, the agent every /get-config answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import pytz

from contract.errors import ConfigError
from time_manager import LOCAL_TIMEZONE


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One configuration key: its type, its inclusive range (ints), its default and a label."""

    name: str
    kind: type
    default: Any
    label: str
    minimum: int | None = None
    maximum: int | None = None
    unit: str = ""


SCHEMA: tuple[FieldSpec, ...] = (
    FieldSpec("screenshot_interval", int, 300, "Screenshot interval", 10, 86400, "seconds"),
    FieldSpec("capture_enabled", bool, True, "Capture screenshots"),
    FieldSpec("blur_screenshots", bool, False, "Blur screenshots"),
    FieldSpec("random_capture_time", bool, False, "Random moment inside each interval"),
    FieldSpec("config_poll_interval", int, 60, "Config poll interval", 5, 3600, "seconds"),
    FieldSpec("idle_threshold", int, 300, "Idle after", 30, 7200, "seconds"),
    FieldSpec("battery_threshold", int, 20, "Suspend below battery", 0, 100, "percent"),
    FieldSpec("timezone", str, LOCAL_TIMEZONE, "Time zone (IANA name or \"local\")"),
    FieldSpec("jpeg_quality", int, 70, "JPEG quality", 30, 95),
    # The employee's side (issue 12): each an organisation setting with a per-person override.
    FieldSpec(
        "employee_delete_window_minutes", int, 0, "A person may delete their screenshot for",
        0, 10080, "minutes",
    ),
    FieldSpec("upload_delay_seconds", int, 0, "Hold captures on the device for",
              0, 3600, "seconds"),
    FieldSpec("notify_on_capture", bool, True, "Show a notice at each capture"),
    FieldSpec("idle_prompt", bool, True, "Ask after idle whether it was work"),
    # Issue 13: an organisation may make the agent start at sign-in without a way to turn it off.
    FieldSpec("force_autostart", bool, False, "Always start the agent at sign-in"),
)

SCHEMA_BY_NAME: dict[str, FieldSpec] = {spec.name: spec for spec in SCHEMA}
DEFAULTS: dict[str, Any] = {spec.name: spec.default for spec in SCHEMA}
# Settings an older server may not serve; every other one must be in a complete config.
ADDED_LATER = frozenset({
    "employee_delete_window_minutes", "upload_delay_seconds", "notify_on_capture", "idle_prompt",
    "force_autostart",
})


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """The policy in force on an agent, as served by ``/get-config`` (always complete and valid)."""

    screenshot_interval: int = 300
    capture_enabled: bool = True
    blur_screenshots: bool = False
    random_capture_time: bool = False
    config_poll_interval: int = 60
    idle_threshold: int = 300
    battery_threshold: int = 20
    timezone: str = LOCAL_TIMEZONE
    jpeg_quality: int = 70
    employee_delete_window_minutes: int = 0
    upload_delay_seconds: int = 0
    notify_on_capture: bool = True
    idle_prompt: bool = True
    force_autostart: bool = False

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> AgentConfig:
        """Validate a served config (extra key ``version`` is ignored) and build it.

        A setting of ``ADDED_LATER`` the answer lacks takes its default: a server older than this agent
        does not know it, and its answer is still good. Any other missing setting is an error.
        """
        payload = {key: value for key, value in values.items() if key != "version"}
        payload = {**{name: DEFAULTS[name] for name in ADDED_LATER}, **payload}
        return cls(**validate_config(payload, partial=False))

    def as_dict(self) -> dict[str, Any]:
        """The config as a plain dict, in schema order."""
        return {spec.name: getattr(self, spec.name) for spec in SCHEMA}

    def changes_from(self, old: AgentConfig) -> dict[str, tuple[Any, Any]]:
        """``{field: (old, new)}`` for every field that differs from ``old``."""
        return {
            item.name: (getattr(old, item.name), getattr(self, item.name))
            for item in fields(self)
            if getattr(old, item.name) != getattr(self, item.name)
        }


def _field_error(spec: FieldSpec, value: Any) -> str | None:
    """The message for a bad value of ``spec``, or None when the value is valid."""
    if spec.kind is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if spec.kind is int:
        # A bool is an int in Python; in a config it is a type error.
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        too_small = spec.minimum is not None and value < spec.minimum
        too_large = spec.maximum is not None and value > spec.maximum
        if too_small or too_large:
            unit = f" {spec.unit}" if spec.unit else ""
            return f"must be between {spec.minimum} and {spec.maximum}{unit}"
        return None
    if spec.name == "timezone":
        if not isinstance(value, str):
            return "must be a string"
        if value != LOCAL_TIMEZONE and value not in pytz.all_timezones_set:
            return 'must be an IANA time zone name (e.g. "Europe/Berlin") or "local"'
        return None
    return None if isinstance(value, spec.kind) else f"must be of type {spec.kind.__name__}"


def _field_name(key: object) -> str:
    """An unknown key as it may be shown and logged: control characters and lone surrogates escaped.

    The key comes from whoever sent the config; a lone surrogate cannot be written to a UTF-8 log.
    """
    text = str(key)
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def validate_config(values: Mapping[str, Any], *, partial: bool = True) -> dict[str, Any]:
    """Check ``values`` against the schema and return them; raise ConfigError naming every bad field.

    ``partial=True`` accepts any subset of keys (an edit); ``partial=False`` requires all keys.
    Unknown keys are errors, so a typo never passes silently.
    """
    if not isinstance(values, Mapping):
        raise ConfigError({"config": "must be a JSON object"})
    errors: dict[str, str] = {}
    for key, value in values.items():
        spec = SCHEMA_BY_NAME.get(key)
        if spec is None:
            errors[_field_name(key)] = "unknown setting"
            continue
        message = _field_error(spec, value)
        if message is not None:
            errors[key] = message
    if not partial:
        for spec in SCHEMA:
            if spec.name not in values:
                errors[spec.name] = "is missing"
    if errors:
        raise ConfigError(errors)
    return dict(values)


def validate_overrides(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a per-user override edit, where ``null`` means "remove this override"."""
    if not isinstance(values, Mapping):
        raise ConfigError({"config": "must be a JSON object"})
    present = {key: value for key, value in values.items() if value is not None}
    errors: dict[str, str] = {}
    try:
        validate_config(present, partial=True)
    except ConfigError as exc:
        errors.update(exc.errors)
    for key, value in values.items():
        if value is None and key not in SCHEMA_BY_NAME:
            errors[_field_name(key)] = "unknown setting"
    if errors:
        raise ConfigError(errors)
    return dict(values)


def parse_form_value(spec: FieldSpec, raw: str | None) -> Any:
    """Turn an HTML form string into the schema's type (checkbox → bool); unparseable stays a string."""
    if spec.kind is bool:
        return raw is not None and raw.lower() in {"1", "true", "on", "yes"}
    if raw is None:
        return None
    text = raw.strip()
    if spec.kind is int:
        try:
            return int(text)
        except ValueError:
            return text
    return text
