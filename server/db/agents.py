"""The upload backlog each agent reports with its activity, shown on the Team page."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from contract.activity import MAX_COUNT, int_error
from contract.errors import ConfigError
from server.db.models import AgentReport

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AgentBacklog:
    """What an agent reports beside its samples: screenshots waiting to upload, and kept aside."""

    uploads_waiting: int
    kept_aside: int


_AGENT_FIELDS = ("uploads_waiting", "kept_aside")


def check_agent_report(raw: Any, errors: dict[str, str]) -> None:
    """Add to ``errors`` what is wrong with a body's optional ``"agent"`` object (None is fine)."""
    if raw is None:
        return
    if not isinstance(raw, Mapping):
        errors["agent"] = "must be an object"
        return
    for key in raw:
        if key not in _AGENT_FIELDS:
            errors[f"agent.{key}"] = "unknown field"
    for name in _AGENT_FIELDS:
        if name not in raw:
            errors[f"agent.{name}"] = "is missing"
            continue
        message = int_error(raw[name], 0, MAX_COUNT)
        if message is not None:
            errors[f"agent.{name}"] = message


def parse_agent_backlog(payload: Any) -> AgentBacklog | None:
    """The optional ``"agent"`` object of a ``POST /activity`` body (None when absent); ConfigError if bad."""
    if not isinstance(payload, Mapping) or payload.get("agent") is None:
        return None
    errors: dict[str, str] = {}
    raw = payload["agent"]
    check_agent_report(raw, errors)
    if errors:
        raise ConfigError(errors)
    return AgentBacklog(uploads_waiting=raw["uploads_waiting"], kept_aside=raw["kept_aside"])


def save_agent_backlog(session: Session, user_id: int, backlog: AgentBacklog, at: datetime) -> None:
    """Keep the newest backlog the user's agent reported."""
    row = session.get(AgentReport, user_id)
    if row is None:
        session.add(
            AgentReport(
                user_id=user_id, uploads_waiting=backlog.uploads_waiting, kept_aside=backlog.kept_aside,
                reported_at=at,
            )
        )
    else:
        row.uploads_waiting = backlog.uploads_waiting
        row.kept_aside = backlog.kept_aside
        row.reported_at = at
    session.flush()
