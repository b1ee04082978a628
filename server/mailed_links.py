"""What a mailed link does when its person follows it: choose a password, reset one, confirm an address.

A password reset is asked for by name or address and always answered the same way (202), whether or
not an account matches; its mails are sent off the request thread so the answer takes as long either
way. It is limited by name or address asked for, by account and by client address, so nobody can use
it to flood a mailbox. Setting a password through a link ends every token and web session of the
account and mails a notice.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from contract.errors import AuthError, ConfigError, RequestRefused
from server import people_mail, sign_in_limits
from server.context import ServerContext
from server.db import links, people_audit, throttle
from server.db.models import User
from server.db.throttle import WindowLimit
from server.mailer import Mailer
from server.passwords import check_new_password, hash_password
from server.people import RESET_PATH, end_sign_ins

logger = logging.getLogger(__name__)

WINDOW = timedelta(minutes=15)
# Per name or address asked for, and per account (a name and an address may both reach one account).
RESETS_PER_NAME = WindowLimit("reset_name", 3, WINDOW)
RESETS_PER_ACCOUNT = WindowLimit("reset_account", 3, WINDOW)
# Per client address, whatever it asks for.
RESETS_PER_ADDRESS = WindowLimit("reset_address", 20, WINDOW)
RESET_ANSWER = "if an account matches, a link to choose a new password is on its way; it works for 30 minutes"
LINK_GONE = "this link has expired or was already used; ask for a new one"


@dataclass(frozen=True, slots=True)
class LinkPage:
    """A link that still works, as its page greets the person."""

    username: str
    email: str | None
    expires_at: datetime


def open_link(context: ServerContext, kind: str, token: str) -> LinkPage | None:
    """The link behind ``token`` if it still works (opening a page never uses it up)."""
    with context.database.session() as session:
        found = links.find_open(session, kind, token, context.now())
    return None if found is None else LinkPage(found.username, found.email, found.expires_at)


def _gone() -> RequestRefused:
    return RequestRefused(LINK_GONE, status=410, code="link_gone")


def _set_password(context: ServerContext, kind: str, token: str, password: str) -> str:
    """Check the password, use the link once, store the hash, end every sign-in; the username."""
    now = context.now()
    page = open_link(context, kind, token)
    if page is None:
        raise _gone()
    check_new_password(password, page.username)  # before the link is used: a refused password keeps it
    password_hash = hash_password(password)
    with context.database.session() as session:
        found = links.consume(session, kind, token, now)
        user = session.get(User, found.user_id) if found is not None else None
        if user is None:
            raise _gone()
        user.password_hash = password_hash
        end_sign_ins(session, user.id, now)
        sign_in_limits.unlock_name(session, user.username)
        action = "accepted invitation" if kind == links.INVITATION else "password reset"
        people_audit.record(session, now, user.username, action, user.username)
        username, email = user.username, user.email
    logger.info("account %s set its password through a mailed link", username)
    if kind == links.PASSWORD_RESET:
        notice = people_mail.changed_body(username, now)
        _send_later(context.mailer, [(email, people_mail.CHANGED_SUBJECT, notice)])
    return username


def accept_invitation(context: ServerContext, token: str, password: str) -> str:
    """The invited person chooses a password; the username (410 ``link_gone`` for a dead link)."""
    return _set_password(context, links.INVITATION, token, password)


def reset_password(context: ServerContext, token: str, password: str) -> str:
    """A new password through a reset link; every sign-in of the account ends; the username."""
    return _set_password(context, links.PASSWORD_RESET, token, password)


def confirm_email_change(context: ServerContext, token: str) -> str:
    """The new address confirmed itself: sign-in codes go there from now on; the username."""
    now = context.now()
    with context.database.session() as session:
        found = links.consume(session, links.EMAIL_CHANGE, token, now)
        user = session.get(User, found.user_id) if found is not None else None
        if found is None or user is None or found.email is None:
            raise _gone()
        old_email = user.email
        user.email = found.email
        people_audit.record(session, now, user.username, "email confirmed", user.username,
                            f"{old_email} → {found.email}")
        return user.username


def reset_link(context: ServerContext, username: str, base_url: str, actor: str) -> tuple[str, datetime]:
    """A password reset link for ``username`` made on the server's shell (printed, not mailed)."""
    now = context.now()
    with context.database.session() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise ConfigError({"username": f"no account named {username!r}"})
        issued = links.create(session, links.PASSWORD_RESET, user.id, now, created_by=actor)
        people_audit.record(session, now, actor, "reset link made", username)
    return base_url + RESET_PATH + issued.token, issued.expires_at


def request_password_reset(
    context: ServerContext, *, username: str | None, email: str | None, client_address: str, base_url: str
) -> None:
    """Mail a reset link to each enabled account matching the name or address; the same for no match.

    429 only when this client address asked too often (that tells nothing about any account).
    """
    asked = (username if username is not None else email or "").strip()
    if not asked:
        raise ConfigError({"username" if username is not None else "email": "must not be empty"})
    now = context.now()
    address = throttle.counter_key("address", sign_in_limits.address_key(client_address))
    mails: list[tuple[str, str, str]] = []
    with context.database.session() as session:
        if throttle.reserve_window(session, RESETS_PER_ADDRESS, address, now) is None:
            retry = throttle.window_retry_after_seconds(session, RESETS_PER_ADDRESS, address, now)
            raise AuthError("too many password reset requests; try again later", code="too_many_attempts",
                            retry_after_seconds=retry)
    with context.database.session() as session:
        name_key = throttle.counter_key("reset", "email" if username is None else "name", asked.lower())
        if throttle.reserve_window(session, RESETS_PER_NAME, name_key, now) is None:
            logger.info("password reset not mailed: asked for too often")
            return
        column = User.username if username is not None else func.lower(User.email)
        wanted = asked if username is not None else asked.lower()
        users = list(session.scalars(select(User).where(column == wanted, User.is_enabled)))
        for user in users:
            account_key = throttle.counter_key("account", str(user.id))
            if throttle.reserve_window(session, RESETS_PER_ACCOUNT, account_key, now) is None:
                continue
            issued = links.create(session, links.PASSWORD_RESET, user.id, now)
            url = base_url + RESET_PATH + issued.token
            body = people_mail.reset_body(user.username, url, issued.expires_at)
            mails.append((user.email, people_mail.RESET_SUBJECT, body))
    if mails:
        logger.info("password reset link mailed (%d account(s))", len(mails))
    _send_later(context.mailer, mails)


def _send_later(mailer: Mailer, mails: list[tuple[str, str, str]]) -> None:
    """Send the mails on a thread of their own (the answer does not wait for SMTP)."""
    if not mails:
        return

    def send_all() -> None:
        for to_address, subject, body in mails:
            try:
                mailer.send(to_address, subject, body)
            except Exception:  # a job boundary: the next mail still goes
                logger.exception("a password mail could not be sent")

    threading.Thread(target=send_all, name="password-mail", daemon=True).start()
