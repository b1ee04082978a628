"""Server-side /admin sessions: the cookie carries only an opaque random id (issue 10 item 14).

Flask's default session is a signed cookie anyone holding it can read; it carried a usable 7-day
bearer token in clear base64. Here the session's content lives in ``web_sessions`` under the
SHA-256 of the id, so a copied cookie reveals nothing, sign-out deletes the row, and disabling an
account deletes its rows for good. The cookie is HttpOnly, SameSite=Lax, and Secure whenever the
request came over HTTPS (``request.is_secure``, after the trusted proxy fix of app.py).

A signed-in session ends after 12 hours without a request (``VINOVA_WEB_IDLE_HOURS``): each request
moves its end, writing ``last_seen_at``, the address and the browser's User-Agent at most once a
minute (``TOUCH_EVERY``), which /account lists.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, request
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session
from werkzeug.datastructures import CallbackDict
from werkzeug.wrappers import Request, Response

from server.db.database import Database
from server.db.models import WebSession

logger = logging.getLogger(__name__)

COOKIE_NAME = "vinova_admin"
# A session that has not signed in (it holds a CSRF token and a pending challenge) lives an hour.
ANONYMOUS_LIFETIME = timedelta(hours=1)
DEFAULT_IDLE = timedelta(hours=12)
TOUCH_EVERY = timedelta(minutes=1)
USER_ID_KEY = "user_id"
MAX_USER_AGENT_LENGTH = 256


def _client() -> tuple[str, str]:
    """This request's address and User-Agent, trimmed to their columns."""
    return (request.remote_addr or "")[:64], request.headers.get("User-Agent", "")[:MAX_USER_AGENT_LENGTH]


def session_id_hash(session_id: str) -> str:
    """How a session id is stored: its SHA-256 hex (a 256-bit random id needs no salt)."""
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """The session of one request; ``rotate()`` gives it a new id when it is saved (sign-in)."""

    def __init__(self, initial: dict[str, Any] | None = None, session_id: str | None = None) -> None:
        def on_update(changed: CallbackDict[str, Any]) -> None:
            self.modified = True

        super().__init__(initial, on_update)
        self.session_id = session_id
        self.new = session_id is None
        self.modified = False
        self.rotate_requested = False
        # Set when this request moved the session's end: the cookie's Max-Age follows it.
        self.renewed_until: datetime | None = None

    def rotate(self) -> None:
        """Save under a new id and forget the old one (against session fixation at sign-in)."""
        self.rotate_requested = True
        self.modified = True


class DatabaseSessionInterface(SessionInterface):
    """Keeps each session as a ``web_sessions`` row; a signed-in one ends ``lifetime`` after its last use."""

    def __init__(self, database: Database, lifetime: timedelta, clock: Callable[[], datetime]) -> None:
        self.database = database
        self.lifetime = lifetime  # the idle limit of a signed-in session
        self.clock = clock

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        """The stored session of the cookie, or a new empty one (no database work without a cookie)."""
        session_id = request.cookies.get(COOKIE_NAME, "")
        if not session_id or len(session_id) > 128:
            return ServerSession()
        now = self.clock()
        with self.database.session() as db:
            row = db.scalar(
                select(WebSession).where(
                    WebSession.id_hash == session_id_hash(session_id), WebSession.expires_at > now
                )
            )
            if row is None:
                return ServerSession()
            data = dict(row.data) if isinstance(row.data, dict) else {}
            seen = row.last_seen_at
            renewed = row.user_id is not None and (seen is None or now - seen >= TOUCH_EVERY)
            if renewed:
                self._touch(db, row.id_hash, now)
        opened = ServerSession(data, session_id)
        opened.renewed_until = now + self.lifetime if renewed else None
        return opened

    def _touch(self, db: Session, id_hash: str, now: datetime) -> None:
        """Move a signed-in session's end to now + the idle limit (one conditional UPDATE)."""
        address, user_agent = _client()
        db.execute(
            update(WebSession)
            .where(
                WebSession.id_hash == id_hash,
                or_(WebSession.last_seen_at.is_(None), WebSession.last_seen_at <= now - TOUCH_EVERY),
            )
            .values(last_seen_at=now, expires_at=now + self.lifetime, address=address, user_agent=user_agent)
            .execution_options(synchronize_session=False)
        )

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Write the row and set the cookie when the session changed; delete both when it was emptied."""
        if not isinstance(session, ServerSession):
            return
        path = self.get_cookie_path(app)
        if not session:
            if session.session_id is not None:
                self._delete(session.session_id)
                response.delete_cookie(COOKIE_NAME, path=path, httponly=True, samesite="Lax")
            return
        if not session.modified:
            if session.renewed_until is not None and session.session_id is not None:
                self._set_cookie(app, response, session.session_id, session.renewed_until)
            return
        if session.rotate_requested and session.session_id is not None:
            self._delete(session.session_id)
            session.session_id = None
        now = self.clock()
        user_id = session.get(USER_ID_KEY)
        user_id = user_id if isinstance(user_id, int) else None
        expires_at = now + (self.lifetime if user_id is not None else ANONYMOUS_LIFETIME)
        data = dict(session)
        address, user_agent = _client()
        with self.database.session() as db:
            if session.session_id is None:
                session.session_id = secrets.token_urlsafe(32)
                db.add(WebSession(id_hash=session_id_hash(session.session_id), user_id=user_id, data=data,
                                  created_at=now, expires_at=expires_at, last_seen_at=now, address=address,
                                  user_agent=user_agent))
            else:
                row = db.get(WebSession, session_id_hash(session.session_id))
                if row is None:  # signed out meanwhile, or its account disabled: stay out
                    return
                if row.user_id is None and user_id is not None:  # signed in without a new id
                    row.expires_at, row.last_seen_at = expires_at, now
                row.data = data
                row.user_id = user_id
                expires_at = row.expires_at
        self._set_cookie(app, response, session.session_id, expires_at)

    def _set_cookie(self, app: Flask, response: Response, session_id: str, expires_at: datetime) -> None:
        # Max-Age, not an absolute Expires: the browser's clock need not agree with the server's.
        max_age_seconds = max(0, int((expires_at - self.clock()).total_seconds()))
        response.set_cookie(
            COOKIE_NAME, session_id, max_age=max_age_seconds, path=self.get_cookie_path(app), httponly=True,
            secure=request.is_secure, samesite="Lax",
        )

    def _delete(self, session_id: str) -> None:
        with self.database.session() as db:
            db.execute(delete(WebSession).where(WebSession.id_hash == session_id_hash(session_id)))
