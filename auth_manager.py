"""Passwords, OTP challenges and tokens (server side) and the sign-in flow (agent side).

Server side: :class:`ServerAuth` checks passwords (scrypt, memory-hard), mails 6-digit codes
(pyotp) to the address registered on the account — or, for an account with an authenticator app
(server/totp.py), asks for the app's code and mails nothing — and issues 256-bit bearer tokens
stored only as their SHA-256. Tokens slide: each is valid for the idle window after its last use
(server/tokens.py). How many passwords, codes and mails are let through is server/sign_in_limits.py
(per name and address, identical for unknown names; NIST SP 800-63B 5.2.2).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import bindparam, delete, select, update

from contract.errors import AuthError, RequestRefused, TransientError
from server import sign_in_limits, sign_in_mail, tokens
from server.accounts import EMAIL_PATTERN, USERNAME_PATTERN, AccountAdmin, UserSummary
from server.db import challenges
from server.db.challenges import MAX_CODE_ATTEMPTS, RESEND_INTERVAL
from server.db.config_data import NEWEST_AUDIT_ID
from server.db.database import Database
from server.db.models import AuthToken, LoginChallenge, User
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
from server.totp import TotpService

logger = logging.getLogger(__name__)

__all__ = [
    "EMAIL_PATTERN", "MAX_PASSWORD_LENGTH", "MIN_PASSWORD_LENGTH", "SCRYPT_N", "USERNAME_PATTERN",
    "ChallengeIssued", "IssuedToken", "Principal",
    "ServerAuth", "UserSummary", "check_new_password", "hash_password", "mask_email", "token_digest",
    "verify_password",
]

# ============================================================================ server side

CODE_LIFETIME = timedelta(minutes=5)
# Expired challenges and tokens, stale counters and outbox mail go after a day; checked at most
# every 10 minutes per process, at sign-in (plain deletes: several server processes may do it at once).
PURGE_AFTER = timedelta(days=1)
PURGE_EVERY = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class ChallengeIssued:
    """A code is awaited: the id to verify against, the masked address ("" for totp), expiry, method."""

    challenge_id: str
    sent_to: str
    expires_at: datetime
    method: str = "email"  # "email": a code was mailed; "totp": the authenticator app's code


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
    # The config version read with the token, in the same statement: a config poll (GET /get-config,
    # a third of an agent's calls) then needs no second read of it (issue 14's load).
    config_version: int = 0


# What authenticate_digest reads, from the tables themselves (a plain Core statement: no ORM entities to
# build, and SQLAlchemy's compiled-statement cache finds it by identity). The digest comes as a parameter.
_TOKENS = AuthToken.__table__.c
_USERS = User.__table__.c
_TOKEN_LOOKUP = (
    select(
        _TOKENS.id.label("token_id"), _TOKENS.expires_at, _TOKENS.revoked_at, _TOKENS.last_used_at,
        _USERS.id.label("user_id"), _USERS.username, _USERS.email, _USERS.is_admin, _USERS.is_enabled,
        NEWEST_AUDIT_ID.scalar_subquery().label("config_version"),
    )
    .select_from(AuthToken.__table__.join(User.__table__, _USERS.id == _TOKENS.user_id))
    .where(_TOKENS.token_hash == bindparam("digest"))
)


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, int((moment - now).total_seconds() + 0.999))


class ServerAuth(AccountAdmin):
    """Accounts (server/accounts.py), code sign-in, tokens and throttling on top of the database."""

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
        self.totp = TotpService(database, secret_key=secret_key, clock=clock)
        self.token_ttl = token_ttl  # the idle window: a token ends this long after its last use
        self.clock = clock
        self._next_purge_at: datetime | None = None

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
        if self.totp.signs_in_with_app(user):
            return self._await_app_code(user, now)
        issued = self._issue_challenge(user, now)
        logger.info("sign-in code mailed for account %s", username)
        return issued

    def _await_app_code(self, user: User, now: datetime) -> ChallengeIssued:
        """A challenge answered by the authenticator app's code (or a recovery code): nothing is mailed."""
        challenge_id = secrets.token_urlsafe(24)
        expires_at = now + CODE_LIFETIME
        with self.database.session() as session:
            session.add(
                LoginChallenge(
                    id=challenge_id, user_id=user.id, code_hash="", created_at=now, expires_at=expires_at,
                    last_sent_at=now, failed_attempts=0, method="totp",
                )
            )
        logger.info("sign-in of account %s awaits its authenticator code", user.username)
        return ChallengeIssued(challenge_id, "", expires_at, "totp")

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
            if challenge.method == "totp":
                message = "this sign-in takes the code of your authenticator app; nothing is mailed"
                raise RequestRefused(message, status=409, code="no_mail_for_app_sign_in")
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

    def _reserve_code_attempt(self, challenge_id: str, now: datetime) -> tuple[int, int, str, str]:
        """This attempt's place on the account and on the challenge: (user id, attempt, code hash, method)."""
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
            return user.id, attempt, code_hash, challenge.method

    def _code_matches(self, challenge_id: str, user_id: int, method: str, expected: str, code: str) -> bool:
        if method == "totp":
            return self.totp.check_sign_in_code(user_id, code)
        return hmac.compare_digest(expected, self._code_hash(challenge_id, code))

    def verify(
        self, challenge_id: str, code: str, *, device_name: str = "", client_address: str = "",
        kind: str = "desktop",
    ) -> IssuedToken:
        """Exchange a challenge and its code (mailed, the app's, or a recovery code) for a bearer token.

        One token per code, ever; ``kind`` is "desktop" for the API, "web" for a browser session.
        """
        now = self.clock()
        user_id, attempt, expected, method = self._reserve_code_attempt(challenge_id, now)
        if not self._code_matches(challenge_id, user_id, method, expected, code):
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
            session.add(tokens.new_token_row(user_id, token_digest(token), now, expires_at, device_name,
                                             client_address, kind))
            result = IssuedToken(token, expires_at, user.username, user.is_admin)
        logger.info("account %s signed in", result.username)
        return result

    def turn_off_app(self, user_id: int, password: str, client_address: str = "") -> None:
        """Turn the account's authenticator app off after checking its password."""
        self.check_password(user_id, password, "password", client_address)
        self.totp.disable(user_id)

    # ---------------------------------------------------------------- tokens
    def authenticate(self, token: str, client_address: str = "") -> Principal:
        """The account behind a bearer token; AuthError when unknown, expired, revoked or disabled."""
        if not token:
            raise AuthError("sign in first")
        return self.authenticate_digest(token_digest(token), client_address)

    def authenticate_digest(self, digest: str, client_address: str = "") -> Principal:
        """The account behind a stored token digest (what a web session keeps); AuthError otherwise.

        A valid token slides: its expiry moves to now + the idle window, written at most every ten
        minutes (server/tokens.py). Every authenticated request runs this: one Core select of the
        columns it needs (issue 14's load: the ORM join of both rows was ~40 % of a config poll's CPU).
        """
        now = self.clock()
        row = self.database.read_first(_TOKEN_LOOKUP, {"digest": digest})
        if row is None:
            raise AuthError("the token is not valid; sign in again")
        if row.revoked_at is not None or now >= row.expires_at or not row.is_enabled:
            raise AuthError("the token is not valid; sign in again")
        use = tokens.TokenUse(row.token_id, row.last_used_at, row.expires_at)
        expires_at = use.expires_at
        if tokens.renewal_due(use, now):
            # A write: queued with the process's other SQLite writers, never in SQLite's busy handler.
            with self.database.write_session() as session:
                expires_at = tokens.slide(session, use, now, self.token_ttl, client_address)
        return Principal(row.user_id, row.username, row.email, row.is_admin, expires_at,
                         int(row.config_version or 0))

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
