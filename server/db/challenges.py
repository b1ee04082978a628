"""Sign-in challenges and tokens in the database: attempts, use and locks as atomic conditional updates.

One code gave up to 6 tokens and 40 concurrent wrong codes got up to 24 checks against 5
(issue 10 item 11): every step here is one ``UPDATE … WHERE`` whose row count says who won.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, or_, update
from sqlalchemy.orm import Session

from contract.errors import AuthError
from server.db.models import AuthToken, LoginChallenge, WebSession

logger = logging.getLogger(__name__)

MAX_CODE_ATTEMPTS = 5
RESEND_INTERVAL = timedelta(seconds=30)
LOCKED_MESSAGE = "too many wrong codes; sign in again"


def check_open(challenge: LoginChallenge) -> None:
    """AuthError when the challenge is locked or already used."""
    if challenge.locked_at is not None:
        raise AuthError(LOCKED_MESSAGE, code="challenge_locked")
    if challenge.used_at is not None:
        raise AuthError("this code was already used; sign in again", code="code_used")


def _still_open(challenge_id: str) -> list[ColumnElement[bool]]:
    return [
        LoginChallenge.id == challenge_id,
        LoginChallenge.used_at.is_(None),
        LoginChallenge.locked_at.is_(None),
    ]


def reserve_attempt(session: Session, challenge: LoginChallenge) -> tuple[int, str]:
    """Take one of the challenge's attempts before the code is compared: (attempt number, code hash)."""
    row = session.execute(
        update(LoginChallenge)
        .where(*_still_open(challenge.id), LoginChallenge.failed_attempts < MAX_CODE_ATTEMPTS)
        .values(failed_attempts=LoginChallenge.failed_attempts + 1)
        .returning(LoginChallenge.failed_attempts, LoginChallenge.code_hash)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:  # a concurrent attempt used or locked it meanwhile
        session.refresh(challenge)
        check_open(challenge)
        raise AuthError(LOCKED_MESSAGE, code="challenge_locked")
    return int(row[0]), str(row[1])


def mark_used(session: Session, challenge_id: str, now: datetime) -> bool:
    """Use the challenge; False when another request used or locked it first."""
    result = session.execute(
        update(LoginChallenge)
        .where(*_still_open(challenge_id))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def lock(session: Session, challenge_id: str, now: datetime) -> None:
    """Lock the challenge after its last wrong code."""
    session.execute(
        update(LoginChallenge)
        .where(LoginChallenge.id == challenge_id, LoginChallenge.locked_at.is_(None))
        .values(locked_at=now)
        .execution_options(synchronize_session=False)
    )


def replace_code(
    session: Session, challenge_id: str, code_hash: str, now: datetime, expires_at: datetime
) -> bool:
    """Put a resent code in place; False when another resend won (or the challenge closed)."""
    result = session.execute(
        update(LoginChallenge)
        .where(*_still_open(challenge_id), LoginChallenge.last_sent_at <= now - RESEND_INTERVAL)
        .values(code_hash=code_hash, last_sent_at=now, expires_at=expires_at)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def purge_expired(session: Session, now: datetime, older_than: timedelta) -> int:
    """Delete challenges and tokens expired or revoked ``older_than`` ago, and expired web sessions."""
    cutoff = now - older_than
    removed = 0
    for statement in (
        delete(LoginChallenge).where(LoginChallenge.expires_at < cutoff),
        delete(AuthToken).where(or_(AuthToken.expires_at < cutoff, AuthToken.revoked_at < cutoff)),
        delete(WebSession).where(WebSession.expires_at < now),
    ):
        removed += int(getattr(session.execute(statement), "rowcount", 0) or 0)
    return removed

