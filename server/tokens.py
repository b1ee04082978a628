"""Sliding bearer tokens: a token ends the idle window (30 days by default) after its last use.

Renewal costs one conditional UPDATE at most every ten minutes per token (``RENEW_EVERY``), not a
write per request: a server with 10,000 agents, each calling at least once a minute, writes about 17
tokens a second instead of 170 (issue 14's load); a 30-day window does not need more precision.
Concurrent requests race on ``last_used_at``; one wins, the others read on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from server.db.models import AuthToken

logger = logging.getLogger(__name__)

RENEW_EVERY = timedelta(minutes=10)
MAX_DEVICE_NAME_LENGTH = 128
MAX_ADDRESS_LENGTH = 64
KINDS = ("desktop", "web")


def new_token_row(
    user_id: int, digest: str, now: datetime, expires_at: datetime, device_name: str, address: str, kind: str
) -> AuthToken:
    """The row of a freshly issued token (used now, from ``address``, on ``device_name``)."""
    if kind not in KINDS:
        raise ValueError(f"token kind {kind!r} is not one of {KINDS}")
    return AuthToken(
        user_id=user_id, token_hash=digest, created_at=now, expires_at=expires_at, last_used_at=now,
        device_name=device_name.strip()[:MAX_DEVICE_NAME_LENGTH] or None,
        address=address[:MAX_ADDRESS_LENGTH] or None, kind=kind,
    )


@dataclass(frozen=True, slots=True)
class TokenUse:
    """What renewal needs of a token row: its id, last recorded use and current expiry."""

    token_id: int
    last_used_at: datetime | None
    expires_at: datetime


def renewal_due(token: TokenUse, now: datetime) -> bool:
    """Whether ``token``'s last recorded use is RENEW_EVERY old or more (or was never recorded)."""
    return token.last_used_at is None or now - token.last_used_at >= RENEW_EVERY


def slide(session: Session, token: TokenUse, now: datetime, idle: timedelta, address: str) -> datetime:
    """Renew ``token`` when :func:`renewal_due`; its expiry after this call."""
    if not renewal_due(token, now):
        return token.expires_at
    expires_at = max(token.expires_at, now + idle)
    values: dict[str, object] = {"last_used_at": now, "expires_at": expires_at}
    if address:
        values["address"] = address[:MAX_ADDRESS_LENGTH]
    session.execute(
        update(AuthToken)
        .where(
            AuthToken.id == token.token_id,
            or_(AuthToken.last_used_at.is_(None), AuthToken.last_used_at <= now - RENEW_EVERY),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return expires_at
