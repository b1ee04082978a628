"""The agent's live config poll: fetch ``GET /get-config``, validate, cache on disk, hand on changes.

The server validates every edit with :func:`contract.config_schema.validate_config`; the agent
validates what ``GET /get-config`` returns with the very same function, so both sides agree on
what is valid. The last good config is cached for offline starts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from contract.config_schema import AgentConfig
from contract.errors import ConfigError, PermanentError, TransientError
from contract.private_files import write_private_file
from time_manager import utc_now

log = logging.getLogger(__name__)

ConfigListener = Callable[[AgentConfig, dict[str, tuple[Any, Any]]], None]


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
    except RecursionError:
        # A file nested thousands deep (issue 10 item 13) is refused like any unusable cache.
        log.warning("ignoring the cached config in %s: it is nested too deep to read", path)
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ConfigError) as exc:
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

    ``poll()`` runs on the scheduler thread. SessionExpired is not caught: the engine handles it.
    Each applied change goes to the listener (``on_change`` or the one set by :meth:`listen`).
    """

    def __init__(
        self,
        source: ConfigSource,
        cache_path: Path,
        on_change: ConfigListener | None = None,
        clock: Callable[[], datetime] = utc_now,
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

    def listen(self, on_change: ConfigListener) -> None:
        """Call ``on_change(config, changes)`` after every applied change (replaces the listener)."""
        self._on_change = on_change

    def poll(self) -> bool:
        """Fetch once; apply and cache a valid new config. Returns True when something changed."""
        try:
            answer = self._source.get_config(self._etag)
            self.unreachable = False
            if answer.payload is None:
                self.last_error = None
                return False
            new_config = AgentConfig.from_mapping(answer.payload)
        except RecursionError:
            self._note_failure("the server sent a config nested too deep, keeping the last good config")
            return False
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
        if self._on_change is not None:
            self._on_change(new_config, changes)
        return True

    def _note_failure(self, message: str) -> None:
        # One warning per distinct failure; repeats of the same one (a long outage) go to debug.
        log.log(logging.DEBUG if message == self.last_error else logging.WARNING, "%s", message)
        self.last_error = message
