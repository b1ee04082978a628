"""What an administrator does to people: invite, enable, disable, promote, demote, re-address, delete.

Every change is one transaction with its entry in the people audit. The last enabled administrator can
never be demoted, disabled or deleted: each such change is one conditional statement that counts the
other enabled administrators (on PostgreSQL after locking their rows), so two admins demoting each
other at once cannot both succeed. Ending an account's sign-ins revokes its tokens and deletes its web
sessions; enabling it again revives none of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, not_, or_, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from auth_manager import EMAIL_PATTERN, USERNAME_PATTERN
from contract.errors import ConfigError, RequestRefused, TransientError
from server import people_mail, sign_in_limits
from server.context import ServerContext
from server.db import links, people_audit
from server.db.models import AuthToken, Device, Screenshot, User, WebSession
from server.db.users import user_or_404
from server.passwords import has_password, unset_password_hash
from server.stores.thumbnails import thumbnail_key

logger = logging.getLogger(__name__)

LAST_ADMIN = (
    "the last enabled administrator cannot be demoted, disabled or deleted; make someone else admin first"
)
WELCOME_PATH = "/welcome/"
CONFIRM_EMAIL_PATH = "/confirm-email/"
RESET_PATH = "/password-reset/"
CLI_DEFAULT_URL = "http://127.0.0.1:5000"
MAIL_FAILED = "the invitation mail could not be sent; try again later"


@dataclass(frozen=True, slots=True)
class Person:
    """One account as the People page and ``GET /api/users`` show it."""

    username: str
    email: str
    is_admin: bool
    is_enabled: bool
    created_at: datetime
    invited: bool
    invitation_expires_at: datetime | None
    pending_email: str | None
    device_names: tuple[str, ...]
    last_seen_at: datetime | None
    sign_in_method: str

    @property
    def status(self) -> str:
        """``disabled``, ``invited`` (no password chosen yet) or ``active``."""
        if not self.is_enabled:
            return "disabled"
        return "invited" if self.invited else "active"

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        def stamp(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment is not None else None

        return {
            "username": self.username, "email": self.email, "is_admin": self.is_admin,
            "is_enabled": self.is_enabled, "status": self.status, "created_at": self.created_at.isoformat(),
            "invitation_expires_at": stamp(self.invitation_expires_at), "pending_email": self.pending_email,
            "devices": list(self.device_names), "last_seen_at": stamp(self.last_seen_at),
            "sign_in_method": self.sign_in_method,
        }


_warned_about_host = False


def link_base(context: ServerContext, request_root: str | None, *, anonymous: bool = False) -> str:
    """Where mailed links point: VINOVA_PUBLIC_URL, else the address the request came to, else 127.0.0.1.

    ``anonymous``: the request is nobody's (a password reset), so its Host header is the asker's
    word; without VINOVA_PUBLIC_URL the server says so in its log, once.
    """
    global _warned_about_host
    if context.settings.public_url:
        return context.settings.public_url
    if anonymous and request_root and not _warned_about_host:
        _warned_about_host = True
        logger.warning("VINOVA_PUBLIC_URL is not set: password reset links use the address each request "
                       "names (its Host header); set it to the server's public address")
    return (request_root or CLI_DEFAULT_URL).rstrip("/")


def sign_in_method(user: User) -> str:
    """``authenticator app`` once the account turned TOTP on, else ``email code``."""
    return "authenticator app" if getattr(user, "totp_enabled_at", None) is not None else "email code"


def list_people(context: ServerContext) -> list[Person]:
    """Everyone, by username, with devices, last seen, pending invitation and email change."""
    now = context.now()
    with context.database.session() as session:
        users = list(session.scalars(select(User).order_by(User.username)))
        devices: dict[int, list[str]] = {}
        last_seen: dict[int, datetime] = {}
        for user_id, name, seen in session.execute(
            select(Device.user_id, Device.name, Device.last_seen_at).order_by(Device.last_seen_at.desc())
        ):
            devices.setdefault(user_id, []).append(name)
            last_seen.setdefault(user_id, seen)
        pending = session.execute(
            select(links.OneTimeLink.user_id, links.OneTimeLink.kind, links.OneTimeLink.email,
                   links.OneTimeLink.expires_at)
            .where(links.OneTimeLink.used_at.is_(None), links.OneTimeLink.expires_at > now,
                   links.OneTimeLink.kind.in_((links.INVITATION, links.EMAIL_CHANGE)))
        ).all()
    invitations = {row.user_id: row.expires_at for row in pending if row.kind == links.INVITATION}
    new_addresses = {row.user_id: row.email for row in pending if row.kind == links.EMAIL_CHANGE}
    return [
        Person(
            user.username, user.email, user.is_admin, user.is_enabled, user.created_at,
            not has_password(user.password_hash), invitations.get(user.id), new_addresses.get(user.id),
            tuple(devices.get(user.id, ())), last_seen.get(user.id), sign_in_method(user),
        )
        for user in users
    ]


def find_person(context: ServerContext, username: str) -> Person:
    """One person; 404 ``not_found`` when there is none."""
    for person in list_people(context):
        if person.username == username:
            return person
    raise RequestRefused(f"user {username!r} not found", status=404, code="not_found")


def end_sign_ins(session: Session, user_id: int, now: datetime) -> None:
    """Revoke every token of the account and delete its web sessions (for good)."""
    session.execute(
        update(AuthToken)
        .where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))


def _keeps_an_admin() -> ColumnElement[bool]:
    """True for a row whose change leaves at least one other enabled administrator (or is no admin)."""
    other = aliased(User)
    others = (
        select(func.count(other.id))
        .where(other.is_admin, other.is_enabled, other.id != User.id)
        .scalar_subquery()
    )
    return or_(not_(and_(User.is_admin, User.is_enabled)), others > 0)


def _lock_admins(session: Session) -> None:
    """On PostgreSQL, lock the enabled administrators' rows so guarded changes run one at a time."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(User.id).where(User.is_admin, User.is_enabled).with_for_update())


def _change(session: Session, username: str, values: dict[str, Any], *, guarded: bool) -> User:
    """Apply ``values`` to the account (write first, so SQLite takes its lock at once); 404 / 409."""
    if guarded:
        _lock_admins(session)
    condition = [User.username == username]
    if guarded:
        condition.append(_keeps_an_admin())
    result = session.execute(
        update(User).where(*condition).values(**values).execution_options(synchronize_session=False)
    )
    user = user_or_404(session, username)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise RequestRefused(LAST_ADMIN, status=409, code="last_admin")
    session.refresh(user)
    return user


def check_new_account(session: Session, username: str, email: str) -> None:
    """Refuse a bad or taken username (409 ``username_taken``, any case) and a bad address, by field."""
    errors: dict[str, str] = {}
    if not USERNAME_PATTERN.match(username):
        errors["username"] = "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    elif session.scalar(select(User.id).where(func.lower(User.username) == username.lower())) is not None:
        raise RequestRefused(
            f"the username {username!r} is already taken", status=409, code="username_taken", field="username"
        )
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        errors["email"] = "must be an email address"
    if errors:
        raise ConfigError(errors)


@dataclass(frozen=True, slots=True)
class Invitation:
    """An invitation that was mailed."""

    username: str
    email: str
    expires_at: datetime


def invite(
    context: ServerContext, actor: str, username: str, email: str, is_admin: bool, base_url: str
) -> Invitation:
    """Create the account (no usable password yet) and mail its one-time link; 503 when mail fails."""
    now = context.now()
    placeholder_hash = unset_password_hash()  # cannot sign in until the person chooses a password
    with context.database.session() as session:
        check_new_account(session, username, email)
        user = User(
            username=username, email=email, password_hash=placeholder_hash, is_admin=is_admin,
            is_enabled=True, created_at=now,
        )
        session.add(user)
        session.flush()
        issued = links.create(session, links.INVITATION, user.id, now, created_by=actor)
        detail = f"{email} as admin" if is_admin else email
        people_audit.record(session, now, actor, "invited", username, detail)
        user_id = user.id
    body = people_mail.invitation_body(username, actor, base_url + WELCOME_PATH + issued.token,
                                       issued.expires_at, is_admin)
    try:
        context.mailer.send(email, people_mail.INVITATION_SUBJECT, body)
    except TransientError as exc:
        with context.database.session() as session:
            session.execute(delete(User).where(User.id == user_id))
        raise RequestRefused(MAIL_FAILED, status=503, code="mail_unavailable") from exc
    logger.info("%s invited %s", actor, username)
    return Invitation(username, email, issued.expires_at)


def resend_invitation(context: ServerContext, actor: str, username: str, base_url: str) -> Invitation:
    """A new invitation link for someone who has not chosen a password (the old link stops working)."""
    now = context.now()
    with context.database.session() as session:
        user = user_or_404(session, username)
        if has_password(user.password_hash):
            raise RequestRefused(f"{username} has already chosen a password", status=409, code="not_invited")
        issued = links.create(session, links.INVITATION, user.id, now, created_by=actor)
        people_audit.record(session, now, actor, "invitation resent", username, user.email)
        email, is_admin = user.email, user.is_admin
    body = people_mail.invitation_body(username, actor, base_url + WELCOME_PATH + issued.token,
                                       issued.expires_at, is_admin)
    try:
        context.mailer.send(email, people_mail.INVITATION_SUBJECT, body)
    except TransientError as exc:
        raise RequestRefused(MAIL_FAILED, status=503, code="mail_unavailable") from exc
    return Invitation(username, email, issued.expires_at)


def set_enabled(context: ServerContext, actor: str, username: str, enabled: bool) -> bool:
    """Enable or disable; disabling ends every sign-in at once. Whether anything changed."""
    now = context.now()
    with context.database.session() as session:
        before = user_or_404(session, username).is_enabled
        user = _change(session, username, {"is_enabled": enabled}, guarded=not enabled)
        if enabled:
            sign_in_limits.unlock_name(session, username)
        else:
            end_sign_ins(session, user.id, now)
            session.execute(  # and its mailed links stop working
                update(links.OneTimeLink)
                .where(links.OneTimeLink.user_id == user.id, links.OneTimeLink.used_at.is_(None),
                       links.OneTimeLink.expires_at > now)
                .values(expires_at=now)
            )
        if before != enabled:
            people_audit.record(session, now, actor, "enabled" if enabled else "disabled", username)
    logger.info("%s %s account %s", actor, "enabled" if enabled else "disabled", username)
    return before != enabled


def set_admin(context: ServerContext, actor: str, username: str, is_admin: bool) -> bool:
    """Grant or revoke administrator rights (409 ``last_admin`` for the last one). Whether it changed."""
    now = context.now()
    with context.database.session() as session:
        before = user_or_404(session, username).is_admin
        _change(session, username, {"is_admin": is_admin}, guarded=not is_admin)
        if before != is_admin:
            people_audit.record(session, now, actor, "made admin" if is_admin else "admin revoked", username)
    return before != is_admin


def request_email_change(
    context: ServerContext, actor: str, username: str, new_email: str, base_url: str
) -> datetime:
    """Mail a confirmation link to ``new_email`` (the address changes once it is followed); its expiry."""
    if not EMAIL_PATTERN.match(new_email) or len(new_email) > 254:
        raise ConfigError({"email": "must be an email address"})
    now = context.now()
    with context.database.session() as session:
        user = user_or_404(session, username)
        if user.email == new_email:
            raise ConfigError({"email": "is already the address of this account"})
        issued = links.create(session, links.EMAIL_CHANGE, user.id, now, email=new_email, created_by=actor)
        detail = f"{user.email} → {new_email}"
        people_audit.record(session, now, actor, "email change asked", username, detail)
        old_email = user.email
    url = base_url + CONFIRM_EMAIL_PATH + issued.token
    try:
        context.mailer.send(new_email, people_mail.EMAIL_CHANGE_SUBJECT,
                            people_mail.email_change_body(username, new_email, url, issued.expires_at))
    except TransientError as exc:
        raise RequestRefused("the confirmation mail could not be sent; try again later", status=503,
                             code="mail_unavailable") from exc
    try:
        context.mailer.send(old_email, people_mail.EMAIL_CHANGE_NOTICE_SUBJECT,
                            people_mail.email_change_notice_body(username, new_email, actor))
    except TransientError:
        logger.warning("the email change notice to %s's old address could not be sent", username)
    return issued.expires_at


@dataclass(frozen=True, slots=True)
class Deleted:
    """What went with a deleted person."""

    username: str
    screenshots: int


def _other_admin_exists(session: Session, user: User) -> bool:
    if not (user.is_admin and user.is_enabled):
        return True
    others = select(func.count(User.id)).where(User.is_admin, User.is_enabled, User.id != user.id)
    return bool(session.scalar(others))


def delete_person(context: ServerContext, actor: str, username: str, confirm: object) -> Deleted:
    """Delete the account and all its data (rows, screenshots and thumbnails in the store); audited.

    ``confirm`` must repeat the username. The store's objects go first, then the rows in one
    transaction (the foreign keys cascade): a store that fails half-way answers 503 and leaves the
    account in place with the rest of its objects, so the deletion can simply be asked again; the
    rows never outlive their objects unnoticed, and no object is left without a row to find it by.
    """
    if not isinstance(confirm, str) or confirm != username:
        raise ConfigError({"confirm": f"type the username {username!r} to confirm the deletion"})
    now = context.now()
    with context.database.session() as session:
        user = user_or_404(session, username)
        if not _other_admin_exists(session, user):
            raise RequestRefused(LAST_ADMIN, status=409, code="last_admin")
        user_id = user.id
        keys = list(session.scalars(select(Screenshot.key).where(Screenshot.user_id == user_id)))
    for key in keys:
        for stored in (thumbnail_key(key), key):
            try:
                context.object_store.delete(stored)
            except Exception as exc:  # the store's own errors (botocore, OSError): the boundary
                logger.exception("could not delete an object of account %s; it is not deleted", username)
                raise RequestRefused(
                    "the screenshot store could not delete a file; nothing else was deleted, try again later",
                    status=503, code="storage_unavailable",
                ) from exc
    with context.database.session() as session:
        device_count = session.scalar(select(func.count(Device.id)).where(Device.user_id == user_id)) or 0
        _lock_admins(session)
        result = session.execute(delete(User).where(User.id == user_id, _keeps_an_admin()))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise RequestRefused(LAST_ADMIN, status=409, code="last_admin")
        people_audit.record(session, now, actor, "deleted", username,
                            f"{len(keys)} screenshots, {device_count} devices")
    logger.info("%s deleted account %s (%d screenshots)", actor, username, len(keys))
    return Deleted(username, len(keys))


def recent_audit(context: ServerContext, limit: int = 50) -> list[people_audit.AuditLine]:
    """The newest people audit entries."""
    with context.database.session() as session:
        return people_audit.recent(session, limit)
