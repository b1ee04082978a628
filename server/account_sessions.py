"""A person's sessions as /account lists them: desktop tokens and browser sessions, and signing them out.

A browser session is a ``web_sessions`` row holding the digest of a "web" token; a desktop session
is a "desktop" token. Signing out a browser session deletes its row and revokes its token; signing
out everywhere revokes every token of the account and deletes every one of its browser sessions.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update

from server.db.database import Database
from server.db.models import AuthToken, WebSession

logger = logging.getLogger(__name__)

TOKEN_REF = "t"  # noqa: S105 - a prefix, not a secret
WEB_REF = "w"
_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Safari/", "Safari"))
_SYSTEMS = (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iOS"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))
REF_PATTERN = re.compile(r"^(t[0-9]{1,18}|w[0-9a-f]{64})\Z")


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One signed-in session of a person: what it is, where it was last seen, whether it is this one."""

    ref: str
    kind: str  # "desktop" or "web"
    device: str
    last_seen_at: datetime | None
    address: str
    created_at: datetime
    current: bool


def browser_label(user_agent: str) -> str:
    """A User-Agent in words, e.g. "Chrome on Linux" (the raw text when nothing is recognised)."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), "")
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or (user_agent[:60] if user_agent else "Unknown browser")


def _token_digest_of(data: object) -> str | None:
    digest = data.get("token_digest") if isinstance(data, dict) else None
    return digest if isinstance(digest, str) else None


def list_sessions(
    database: Database, user_id: int, now: datetime, current_digest: str | None
) -> list[SessionRow]:
    """Every live session of the account, most recently seen first."""
    rows: list[SessionRow] = []
    with database.session() as session:
        tokens = session.scalars(
            select(AuthToken).where(
                AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None), AuthToken.expires_at > now,
            )
        )
        live_web_digests = set()
        for token in tokens:
            if token.kind == "web":
                live_web_digests.add(token.token_hash)
                continue
            rows.append(SessionRow(
                f"{TOKEN_REF}{token.id}", "desktop", token.device_name or "Desktop app",
                token.last_used_at or token.created_at, token.address or "", token.created_at,
                token.token_hash == current_digest,
            ))
        webs = session.scalars(
            select(WebSession).where(WebSession.user_id == user_id, WebSession.expires_at > now)
        )
        for web in webs:
            digest = _token_digest_of(web.data)
            if digest is None or digest not in live_web_digests:
                continue
            rows.append(SessionRow(
                f"{WEB_REF}{web.id_hash}", "web", browser_label(web.user_agent or ""),
                web.last_seen_at or web.created_at, web.address or "", web.created_at,
                digest == current_digest,
            ))
    rows.sort(key=lambda row: (row.current, row.last_seen_at or row.created_at), reverse=True)
    return rows


def sign_out(database: Database, user_id: int, ref: str, now: datetime) -> bool:
    """End one session of the account by its ``ref``; False when the account has no such session."""
    if not REF_PATTERN.match(ref):
        return False
    with database.session() as session:
        if ref.startswith(TOKEN_REF):
            result = session.execute(
                update(AuthToken)
                .where(AuthToken.id == int(ref[1:]), AuthToken.user_id == user_id,
                       AuthToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            ended = int(getattr(result, "rowcount", 0) or 0) == 1
        else:
            web = session.scalar(
                select(WebSession).where(WebSession.id_hash == ref[1:], WebSession.user_id == user_id)
            )
            ended = web is not None
            if web is not None:
                digest = _token_digest_of(web.data)
                if digest is not None:
                    session.execute(
                        update(AuthToken)
                        .where(AuthToken.token_hash == digest, AuthToken.user_id == user_id,
                               AuthToken.revoked_at.is_(None))
                        .values(revoked_at=now)
                    )
                session.delete(web)
    if ended:
        logger.info("account %d ended one of its sessions", user_id)
    return ended


def sign_out_everywhere(database: Database, user_id: int, now: datetime) -> None:
    """End every session of the account: tokens revoked, browser sessions deleted."""
    with database.session() as session:
        session.execute(
            update(AuthToken)
            .where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    logger.info("account %d signed out everywhere", user_id)
