"""Account administration behind ServerAuth: create, enable or disable, unlock, list, change a password.

A mixin of :class:`auth_manager.ServerAuth` (which provides ``database`` and ``clock``), so the
card's module keeps one entry point while passwords, challenges and tokens stay its own job.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update

from contract.errors import ConfigError
from server import sign_in_limits
from server.db.database import Database
from server.db.models import AuthToken, User, WebSession
from server.passwords import check_new_password, hash_password, verify_password

logger = logging.getLogger(__name__)

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")


@dataclass(frozen=True, slots=True)
class UserSummary:
    """An account as listed by the CLI and the admin pages."""

    username: str
    email: str
    is_admin: bool
    is_enabled: bool
    created_at: datetime


class AccountAdmin:
    """The account half of ServerAuth."""

    database: Database
    clock: Callable[[], datetime]

    def create_user(self, username: str, email: str, password: str, *, admin: bool = False) -> None:
        """Create an account; raise ConfigError naming each bad field (or a taken username)."""
        errors: dict[str, str] = {}
        if not USERNAME_PATTERN.match(username):
            errors["username"] = "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        if not EMAIL_PATTERN.match(email) or len(email) > 254:
            errors["email"] = "must be an email address"
        try:
            check_new_password(password, username)
        except ConfigError as exc:
            errors.update(exc.errors)
        if errors:
            raise ConfigError(errors)
        password_hash = hash_password(password)
        with self.database.session() as session:
            if session.scalar(select(User.id).where(User.username == username)) is not None:
                raise ConfigError({"username": "is already taken"})
            session.add(
                User(
                    username=username, email=email, password_hash=password_hash, is_admin=admin,
                    is_enabled=True, created_at=self.clock(),
                )
            )
        logger.info("account %s created (admin=%s)", username, admin)

    def set_enabled(self, username: str, enabled: bool) -> None:
        """Enable or disable an account.

        Disabling revokes its tokens and ends its web sessions for good (enabling again revives
        none of them); enabling also lifts a consecutive-failure lock.
        """
        now = self.clock()
        with self.database.session() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise ConfigError({"username": f"no account named {username!r}"})
            user.is_enabled = enabled
            if enabled:
                sign_in_limits.unlock_name(session, username)
            else:
                session.execute(
                    update(AuthToken)
                    .where(AuthToken.user_id == user.id, AuthToken.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
                session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        logger.info("account %s %s", username, "enabled" if enabled else "disabled")

    def unlock(self, username: str) -> None:
        """Lift the lock that 100 consecutive failed passwords put on ``username`` (an admin action)."""
        with self.database.session() as session:
            sign_in_limits.unlock_name(session, username)
        logger.info("sign-in lock of %s lifted", username)

    def is_locked(self, username: str) -> bool:
        """True when ``username`` is refused everywhere after 100 consecutive failed passwords."""
        with self.database.session() as session:
            return sign_in_limits.is_name_locked(session, username)

    def list_users(self) -> list[UserSummary]:
        """Every account, by username."""
        with self.database.session() as session:
            users = session.scalars(select(User).order_by(User.username))
            return [
                UserSummary(user.username, user.email, user.is_admin, user.is_enabled, user.created_at)
                for user in users
            ]

    def user_count(self) -> int:
        """How many accounts exist."""
        with self.database.session() as session:
            return int(session.scalar(select(func.count(User.id))) or 0)

    def check_password(self, user_id: int, password: str, field: str, client_address: str = "") -> str:
        """The account's username when ``password`` is its password (throttled as sign-ins are).

        A wrong password raises ConfigError naming ``field``: the caller is already signed in.
        """
        now = self.clock()
        with self.database.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise ConfigError({"user": "no such account"})
            username, stored_hash = user.username, user.password_hash
        with self.database.session() as session:
            sign_in_limits.reserve_password(session, username, client_address, now)
        if not verify_password(password, stored_hash):
            raise ConfigError({field: "is not your current password"})
        with self.database.session() as session:
            sign_in_limits.password_succeeded(session, username, client_address, now)
        return username

    def change_password(
        self, user_id: int, current_password: str, new_password: str, *, client_address: str = "",
        keep_token_digest: str | None = None,
    ) -> None:
        """Set a new password after checking the current one.

        Every other session of the account ends (its tokens revoked, its web sessions deleted);
        the one whose token digest is ``keep_token_digest`` stays signed in.
        """
        username = self.check_password(user_id, current_password, "current_password", client_address)
        check_new_password(new_password, username)
        new_hash = hash_password(new_password)
        now = self.clock()
        with self.database.session() as session:
            session.execute(update(User).where(User.id == user_id).values(password_hash=new_hash))
            others = [AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None)]
            if keep_token_digest is not None:
                others.append(AuthToken.token_hash != keep_token_digest)
            session.execute(update(AuthToken).where(*others).values(revoked_at=now))
            for row in session.scalars(select(WebSession).where(WebSession.user_id == user_id)):
                digest = row.data.get("token_digest") if isinstance(row.data, dict) else None
                if keep_token_digest is None or digest != keep_token_digest:
                    session.delete(row)
        logger.info("account %s changed its password; its other sessions ended", username)
