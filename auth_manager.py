"""Passwords, OTP challenges and tokens (server side) and the sign-in flow (agent side).

Server side: :class:`ServerAuth` checks passwords (scrypt, memory-hard), mails 6-digit codes
(pyotp) to the address registered on the account, issues 256-bit bearer tokens stored only as
their SHA-256. How many passwords, codes and mails are let through is server/sign_in_limits.py
(per name and address, identical for unknown names; NIST SP 800-63B 5.2.2).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import delete, func, select, update

from contract.errors import AuthError, ConfigError, TransientError
from server import sign_in_limits, sign_in_mail
from server.db import challenges
from server.db.challenges import MAX_CODE_ATTEMPTS, RESEND_INTERVAL
from server.db.database import Database
from server.db.models import AuthToken, LoginChallenge, User, WebSession
from server.mailer import FileOutbox, Mailer
from server.passwords import (
    DUMMY_PASSWORD_HASH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    SCRYPT_N,
    check_new_password,
    hash_password,
    mask_email,
    token_digest,
    verify_password,
)

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_PASSWORD_LENGTH", "MIN_PASSWORD_LENGTH", "SCRYPT_N", "ChallengeIssued", "IssuedToken", "Principal",
    "ServerAuth", "UserSummary", "check_new_password", "hash_password", "mask_email", "token_digest",
    "verify_password",
]

# ============================================================================ server side

CODE_LIFETIME = timedelta(minutes=5)
# Expired challenges and tokens, stale counters and outbox mail go after a day; checked at most
# every 10 minutes per process, at sign-in (plain deletes: several server processes may do it at once).
PURGE_AFTER = timedelta(days=1)
PURGE_EVERY = timedelta(minutes=10)

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")

@dataclass(frozen=True, slots=True)
class ChallengeIssued:
    """A code was mailed: the id to verify against, the masked address, when the code expires."""

    challenge_id: str
    sent_to: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new bearer token (shown once) and who it belongs to."""

    token: str
    expires_at: datetime
    username: str
    is_admin: bool


@dataclass(frozen=True, slots=True)
class Principal:
    """The account behind a valid token."""

    user_id: int
    username: str
    email: str
    is_admin: bool
    token_expires_at: datetime


@dataclass(frozen=True, slots=True)
class UserSummary:
    """An account as listed by the CLI and the admin pages."""

    username: str
    email: str
    is_admin: bool
    is_enabled: bool
    created_at: datetime


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, int((moment - now).total_seconds() + 0.999))


class ServerAuth:
    """Accounts, email-code sign-in, tokens and throttling on top of the database."""

    def __init__(
        self,
        database: Database,
        mailer: Mailer,
        *,
        secret_key: str,
        token_ttl: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.database = database
        self.mailer = mailer
        self._code_key = hashlib.sha256(b"vinova-otp:" + secret_key.encode("utf-8")).digest()
        self.token_ttl = token_ttl
        self.clock = clock
        self._next_purge_at: datetime | None = None

    # ---------------------------------------------------------------- accounts
    def create_user(self, username: str, email: str, password: str, *, admin: bool = False) -> None:
        """Create an account; raise ConfigError naming each bad field (or a taken username)."""
        errors: dict[str, str] = {}
        if not USERNAME_PATTERN.match(username):
            errors["username"] = "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        if not EMAIL_PATTERN.match(email) or len(email) > 254:
            errors["email"] = "must be an email address"
        try:
            check_new_password(password)
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

    # ---------------------------------------------------------------- sign-in
    def _code_hash(self, challenge_id: str, code: str) -> str:
        return hmac.new(self._code_key, f"{challenge_id}:{code}".encode(), hashlib.sha256).hexdigest()

    def _new_code(self) -> str:
        # One HOTP value from a fresh random secret: a uniformly random 6-digit code.
        return pyotp.HOTP(pyotp.random_base32(), digits=6).at(0)

    def _mail_code(self, username: str, email: str, code: str, expires_at: datetime) -> None:
        body = sign_in_mail.code_body(username, code, expires_at)
        self.mailer.send(email, "Your Vinova sign-in code", body)

    def _alert_admins(self, username: str) -> None:
        """Mail every enabled admin once: the account reached the consecutive-failure ceiling."""
        with self.database.session() as session:
            addresses = list(session.scalars(select(User.email).where(User.is_admin, User.is_enabled)))
        sign_in_mail.send_lock_alert(self.mailer, addresses, username)

    def login(self, username: str, password: str, client_address: str = "") -> ChallengeIssued:
        """Check the password and mail a code to the account's own address; AuthError otherwise.

        Unknown names take the same counters, statements, hash and answer as real accounts.
        """
        now = self.clock()
        self._purge_now_and_then(now)
        with self.database.session() as session:
            run = sign_in_limits.reserve_password(session, username, client_address, now)
        with self.database.session() as session:
            user = session.scalar(select(User).where(User.username == username))
            stored_hash = user.password_hash if user is not None else DUMMY_PASSWORD_HASH
        matches = verify_password(password, stored_hash)
        if user is None or not matches or not user.is_enabled:
            if user is not None:
                logger.info("failed password for account %s (%d in a row)", username, run)
                if run == sign_in_limits.NAME_CONSECUTIVE_FAILURES.maximum:
                    self._alert_admins(username)
            raise AuthError("wrong username or password", code="invalid_credentials")
        with self.database.session() as session:
            sign_in_limits.password_succeeded(session, username, client_address, now)
        issued = self._issue_challenge(user, now)
        logger.info("sign-in code mailed for account %s", username)
        return issued

    def _issue_challenge(self, user: User, now: datetime) -> ChallengeIssued:
        with self.database.session() as session:
            sign_in_limits.reserve_mail(session, user.id, now)
        challenge_id = secrets.token_urlsafe(24)
        code = self._new_code()
        expires_at = now + CODE_LIFETIME
        with self.database.session() as session:
            session.add(
                LoginChallenge(
                    id=challenge_id, user_id=user.id, code_hash=self._code_hash(challenge_id, code),
                    created_at=now, expires_at=expires_at, last_sent_at=now, failed_attempts=0,
                )
            )
        # Mailed after the commit (no write lock held over SMTP); a mail that fails leaves nothing.
        try:
            self._mail_code(user.username, user.email, code, expires_at)
        except TransientError:
            with self.database.session() as session:
                session.execute(delete(LoginChallenge).where(LoginChallenge.id == challenge_id))
                sign_in_limits.mail_failed(session, user.id, now)
            raise
        return ChallengeIssued(challenge_id, mask_email(user.email), expires_at)

    def resend(self, challenge_id: str) -> ChallengeIssued:
        """Mail a new code for a pending challenge (the old code stops working); at most once per 30 s."""
        now = self.clock()
        too_soon = "a new code can be sent once every 30 seconds"
        with self.database.session() as session:
            challenge = session.get(LoginChallenge, challenge_id) if challenge_id else None
            user = session.get(User, challenge.user_id) if challenge is not None else None
            if challenge is None or user is None or not user.is_enabled:
                raise AuthError("unknown sign-in attempt; sign in again", code="invalid_code")
            challenges.check_open(challenge)
            next_allowed = challenge.last_sent_at + RESEND_INTERVAL
            if now < next_allowed:
                wait_seconds = _seconds_until(next_allowed, now)
                raise AuthError(too_soon, code="resend_too_soon", retry_after_seconds=wait_seconds)
            sign_in_limits.reserve_mail(session, user.id, now)
            code = self._new_code()
            expires_at = now + CODE_LIFETIME
            code_hash = self._code_hash(challenge.id, code)
            if not challenges.replace_code(session, challenge.id, code_hash, now, expires_at):
                raise AuthError(too_soon, code="resend_too_soon", retry_after_seconds=30)
            user_id, username, email = user.id, user.username, user.email
        try:
            self._mail_code(username, email, code, expires_at)
        except TransientError:
            with self.database.session() as session:
                sign_in_limits.mail_failed(session, user_id, now)
            raise
        return ChallengeIssued(challenge_id, mask_email(email), expires_at)

    def _reserve_code_attempt(self, challenge_id: str, now: datetime) -> tuple[int, int, str]:
        """This attempt's place on the account and on the challenge: (user id, attempt number, code hash)."""
        with self.database.session() as session:
            challenge = session.get(LoginChallenge, challenge_id) if challenge_id else None
            user = session.get(User, challenge.user_id) if challenge is not None else None
            if challenge is None or user is None or not user.is_enabled:
                raise AuthError("wrong code", code="invalid_code")
            challenges.check_open(challenge)
            if now >= challenge.expires_at:
                raise AuthError("the code has expired; ask for a new one", code="code_expired")
            # Both places are taken in one transaction, before the code is compared.
            sign_in_limits.reserve_code(session, user.id, now)
            attempt, code_hash = challenges.reserve_attempt(session, challenge)
            return user.id, attempt, code_hash

    def verify(self, challenge_id: str, code: str) -> IssuedToken:
        """Exchange a challenge and its mailed code for a bearer token (one token per code, ever)."""
        now = self.clock()
        user_id, attempt, expected = self._reserve_code_attempt(challenge_id, now)
        if not hmac.compare_digest(expected, self._code_hash(challenge_id, code)):
            if attempt < MAX_CODE_ATTEMPTS:
                raise AuthError("wrong code", code="invalid_code")
            with self.database.session() as session:
                challenges.lock(session, challenge_id, now)
            raise AuthError(challenges.LOCKED_MESSAGE, code="challenge_locked")
        with self.database.session() as session:
            # The counter row first, then the challenge: the order the reservation took them (no deadlock).
            sign_in_limits.code_succeeded(session, user_id, now)
            if not challenges.mark_used(session, challenge_id, now):
                raise AuthError("this code was already used; sign in again", code="code_used")
            user = session.get(User, user_id)
            if user is None:  # deleted meanwhile (its challenge went with it)
                raise AuthError("wrong code", code="invalid_code")
            token = secrets.token_urlsafe(32)  # 256 bits
            expires_at = now + self.token_ttl
            digest = token_digest(token)
            session.add(AuthToken(user_id=user_id, token_hash=digest, created_at=now, expires_at=expires_at))
            result = IssuedToken(token, expires_at, user.username, user.is_admin)
        logger.info("account %s signed in", result.username)
        return result

    # ---------------------------------------------------------------- tokens
    def authenticate(self, token: str) -> Principal:
        """The account behind a bearer token; AuthError when unknown, expired, revoked or disabled."""
        if not token:
            raise AuthError("sign in first")
        return self.authenticate_digest(token_digest(token))

    def authenticate_digest(self, digest: str) -> Principal:
        """The account behind a stored token digest (what a web session keeps); AuthError otherwise."""
        now = self.clock()
        with self.database.session() as session:
            row = session.execute(
                select(AuthToken, User)
                .join(User, User.id == AuthToken.user_id)
                .where(AuthToken.token_hash == digest)
            ).first()
            if row is None:
                raise AuthError("the token is not valid; sign in again")
            stored, user = row
            if stored.revoked_at is not None or now >= stored.expires_at or not user.is_enabled:
                raise AuthError("the token is not valid; sign in again")
            return Principal(user.id, user.username, user.email, user.is_admin, stored.expires_at)

    def logout(self, token: str) -> None:
        """Revoke a token (unknown or already revoked tokens are ignored)."""
        self.logout_digest(token_digest(token))

    def logout_digest(self, digest: str) -> None:
        """Revoke the token with this digest (a web session's sign-out)."""
        with self.database.session() as session:
            session.execute(
                update(AuthToken)
                .where(AuthToken.token_hash == digest, AuthToken.revoked_at.is_(None))
                .values(revoked_at=self.clock())
            )

    # ---------------------------------------------------------------- housekeeping
    def _purge_now_and_then(self, now: datetime) -> None:
        if self._next_purge_at is not None and now < self._next_purge_at:
            return
        self._next_purge_at = now + PURGE_EVERY
        self.purge(now)

    def purge(self, now: datetime) -> int:
        """Delete what is over a day past use: challenges, tokens, web sessions, counters, outbox mail."""
        with self.database.session() as session:
            removed = sign_in_limits.purge(session, now, PURGE_AFTER)
            removed += challenges.purge_expired(session, now, PURGE_AFTER)
        if isinstance(self.mailer, FileOutbox):
            removed += self.mailer.purge(now - PURGE_AFTER)
        if removed:
            logger.info("purged %d expired sign-in records", removed)
        return removed
