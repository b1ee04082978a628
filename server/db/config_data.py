"""Config data: the global values, per-user overrides, the effective config, its version and the audit log."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from contract.config_schema import DEFAULTS as CONFIG_DEFAULTS
from contract.config_schema import SCHEMA_BY_NAME
from contract.errors import ConfigError
from server.db.models import ConfigAudit, GlobalConfigValue, User, UserConfigOverride

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One config change as shown in the audit log."""

    id: int
    at: datetime
    actor: str
    scope: str
    key: str
    old: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "scope": self.scope,
            "key": self.key,
            "old": self.old,
            "new": self.new,
        }


def global_config(session: Session) -> dict[str, Any]:
    """The global defaults: schema defaults overlaid with what admins stored, in schema order."""
    stored = {row.key: row.value for row in session.scalars(select(GlobalConfigValue))}
    return {key: stored.get(key, default) for key, default in CONFIG_DEFAULTS.items()}


def user_overrides(session: Session, user_id: int) -> dict[str, Any]:
    """One user's overrides (only keys the schema knows), in schema order."""
    rows = session.scalars(select(UserConfigOverride).where(UserConfigOverride.user_id == user_id))
    stored = {row.key: row.value for row in rows}
    return {key: stored[key] for key in CONFIG_DEFAULTS if key in stored}


def effective_config(session: Session, user_id: int) -> dict[str, Any]:
    """What applies to a user: global defaults overlaid with the user's overrides."""
    return {**global_config(session), **user_overrides(session, user_id)}


# Built once: every /get-config poll reads it (with the token: auth_manager). On the table's column, so
# it runs as plain Core, without the ORM's compile step (issue 14's load).
NEWEST_AUDIT_ID = select(func.max(ConfigAudit.__table__.c.id))


def config_version(session: Session) -> int:
    """A number that grows with every config change: the newest audit id (0 before any edit)."""
    return int(session.scalar(NEWEST_AUDIT_ID) or 0)


class EffectiveConfigCache:
    """Effective configs by (user, config version): a /get-config poll reads one number, not two tables.

    Every change of a global value or an override writes an audit row in its own transaction, so
    the version (the newest audit id, the same on every node) names one effective config per user
    for as long as it stands; a newer version empties the cache (issue 14: thousands of polls a minute).
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._version = -1
        self._entries: dict[int, dict[str, Any]] = {}

    def cached(self, user_id: int, version: int) -> dict[str, Any] | None:
        """The user's effective config of ``version`` when this process has it, else None (no read)."""
        with self._lock:
            found = self._entries.get(user_id) if version == self._version else None
        return None if found is None else dict(found)

    def lookup(
        self, session: Session, user_id: int, version: int | None = None
    ) -> tuple[dict[str, Any], int]:
        """The user's effective config and the config version it belongs to.

        ``version``: the version the caller has just read (the token check reads it); None reads it here.
        """
        if version is None:
            version = config_version(session)
        found = self.cached(user_id, version)
        if found is not None:
            return found, version
        config = effective_config(session, user_id)  # read after the version: at least as new
        with self._lock:
            if version > self._version:
                self._version, self._entries = version, {}
            if version == self._version and len(self._entries) < self._max_entries:
                self._entries[user_id] = config
        return dict(config), version


def _audit(
    session: Session, actor: str, scope: str, target_user_id: int | None, key: str, old: Any, new: Any,
    at: datetime,
) -> None:
    session.add(
        ConfigAudit(
            at=at, actor=actor, scope=scope, target_user_id=target_user_id, key=key,
            old_value=old, new_value=new,
        )
    )


def _upsert(
    session: Session, model: type[GlobalConfigValue] | type[UserConfigOverride], row: dict[str, Any],
    keys: list[str],
) -> None:
    """INSERT … ON CONFLICT DO UPDATE: two first-time PUTs of one key never collide (issue 10, item 12)."""
    dialect = session.get_bind().dialect.name
    if dialect not in {"postgresql", "sqlite"}:
        raise RuntimeError(f"config upsert is not implemented for {dialect}")
    insert_function = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert_function(model).values(row)
    replaced = {"value": statement.excluded.value}
    session.execute(statement.on_conflict_do_update(index_elements=keys, set_=replaced))


def update_global_config(session: Session, actor: str, changes: Mapping[str, Any], at: datetime) -> int:
    """Store validated global changes, audit each real change; return how many keys changed."""
    current = global_config(session)
    changed = 0
    for key, value in changes.items():
        if key not in SCHEMA_BY_NAME:
            raise ConfigError({key: "unknown setting"})
        if current[key] == value and type(current[key]) is type(value):
            continue
        _upsert(session, GlobalConfigValue, {"key": key, "value": value}, ["key"])
        _audit(session, actor, "global", None, key, current[key], value, at)
        changed += 1
    session.flush()
    return changed


def update_user_overrides(
    session: Session, actor: str, user: User, changes: Mapping[str, Any], at: datetime
) -> int:
    """Store validated override changes (None removes one), audit each; return how many changed."""
    current = user_overrides(session, user.id)
    scope = f"user:{user.username}"
    changed = 0
    for key, value in changes.items():
        if key not in SCHEMA_BY_NAME:
            raise ConfigError({key: "unknown setting"})
        old = current.get(key)
        if value is None:
            if key not in current:
                continue
            session.execute(
                delete(UserConfigOverride).where(
                    UserConfigOverride.user_id == user.id, UserConfigOverride.key == key
                )
            )
        else:
            if key in current and old == value and type(old) is type(value):
                continue
            row = {"user_id": user.id, "key": key, "value": value}
            _upsert(session, UserConfigOverride, row, ["user_id", "key"])
        _audit(session, actor, scope, user.id, key, old, value, at)
        changed += 1
    session.flush()
    return changed


def audit_entries(session: Session, limit: int = 500) -> list[AuditEntry]:
    """The newest config changes first."""
    rows = session.scalars(select(ConfigAudit).order_by(ConfigAudit.id.desc()).limit(limit))
    return [
        AuditEntry(row.id, row.at, row.actor, row.scope, row.key, row.old_value, row.new_value)
        for row in rows
    ]

