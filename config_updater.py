"""The configuration schema (shared by server and agent) and, on the agent, the live config poll.

The server validates every edit with :func:`validate_config`; the agent validates what
``GET /get-config`` returns with the very same function, so both sides agree on what is valid.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pytz

from errors import ConfigError, PermanentError, TransientError
from private_files import write_private_file

log = logging.getLogger(__name__)

LOCAL_TIMEZONE = "local"


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
)
SCHEMA_BY_NAME: dict[str, FieldSpec] = {spec.name: spec for spec in SCHEMA}
DEFAULTS: dict[str, Any] = {spec.name: spec.default for spec in SCHEMA}


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

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> AgentConfig:
        """Validate a complete config (extra key ``version`` is ignored) and build it."""
        payload = {key: value for key, value in values.items() if key != "version"}
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
            errors[str(key)] = "unknown setting"
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
            errors[str(key)] = "unknown setting"
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


# --------------------------------------------------------------------------- agent side: the live poll
class ConfigAnswer(Protocol):
    """What a config source returns: the raw payload (None = unchanged, HTTP 304) and its ETag."""

    @property
    def payload(self) -> dict[str, Any] | None: ...

    @property
    def etag(self) -> str | None: ...


class ConfigSource(Protocol):
    """Fetches ``/get-config``; called on the scheduler thread, may block up to its HTTP timeout.

    Raises TransientError (network, timeout, 5xx), PermanentError (bad answer) or SessionExpired (401).
    """

    def get_config(self, etag: str | None) -> ConfigAnswer: ...


def load_cached_config(path: Path) -> tuple[AgentConfig, str | None] | None:
    """The last good config saved on disk (and its ETag), or None when absent or unusable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return AgentConfig.from_mapping(data["config"]), data.get("etag")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, ConfigError) as exc:
        log.warning("ignoring the cached config in %s: %s", path, exc)
        return None


def save_cached_config(path: Path, config: AgentConfig, etag: str | None) -> None:
    """Write the config cache atomically, readable by its owner only."""
    body = json.dumps({"config": config.as_dict(), "etag": etag}, indent=2, sort_keys=True)
    write_private_file(path, body)


def describe_changes(changes: Mapping[str, tuple[Any, Any]]) -> str:
    """``"screenshot_interval 300 → 60, blur_screenshots false → true"`` for a log line."""

    def show(value: Any) -> str:
        return json.dumps(value) if not isinstance(value, str) else value

    return ", ".join(f"{key} {show(old)} → {show(new)}" for key, (old, new) in changes.items())


class ConfigPoller:
    """Keeps the agent's config in step with the server; the last good config always stays in force.

    ``poll()`` runs on the scheduler thread. SessionExpired is not caught: the runtime handles it.
    """

    def __init__(
        self,
        source: ConfigSource,
        cache_path: Path,
        on_change: Callable[[AgentConfig, dict[str, tuple[Any, Any]]], None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._source = source
        self._cache_path = cache_path
        self._on_change = on_change
        self._clock = clock
        cached = load_cached_config(cache_path)
        self.current, self._etag = cached if cached is not None else (AgentConfig(), None)
        self.from_cache = cached is not None
        self.last_changed_at: datetime | None = None
        self.last_error: str | None = None
        self.unreachable = False  # the last poll could not reach the server (network, timeout, 5xx)

    def poll(self) -> bool:
        """Fetch once; apply and cache a valid new config. Returns True when something changed."""
        try:
            answer = self._source.get_config(self._etag)
            self.unreachable = False
            if answer.payload is None:
                self.last_error = None
                return False
            new_config = AgentConfig.from_mapping(answer.payload)
        except TransientError as exc:
            self.unreachable = True
            self._note_failure(f"config poll failed, keeping the last good config: {exc}")
            return False
        except PermanentError as exc:
            self._note_failure(f"config poll failed, keeping the last good config: {exc}")
            return False
        except ConfigError as exc:
            self._note_failure(f"the server sent an invalid config, keeping the last good config: {exc}")
            return False
        self.last_error = None
        self._etag = answer.etag
        changes = new_config.changes_from(self.current)
        try:
            save_cached_config(self._cache_path, new_config, answer.etag)
        except OSError as exc:
            log.warning("could not cache the config in %s: %s", self._cache_path, exc)
        if not changes:
            return False
        self.current = new_config
        self.last_changed_at = self._clock()
        log.info("config changed: %s", describe_changes(changes))
        self._on_change(new_config, changes)
        return True

    def _note_failure(self, message: str) -> None:
        # One warning per distinct failure; repeats of the same one (a long outage) go to debug.
        log.log(logging.DEBUG if message == self.last_error else logging.WARNING, "%s", message)
        self.last_error = message
