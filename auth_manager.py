"""Passwords, OTP challenges and tokens (server side) and the sign-in flow (agent side).

Server side: :class:`ServerAuth` checks passwords (scrypt, memory-hard), mails 6-digit codes
(pyotp) to the address registered on the account, issues 256-bit bearer tokens stored only as
their SHA-256, and throttles password guessing per account (NIST SP 800-63B, 5.2.2).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from contract.errors import AuthError, ConfigError
from server.db.database import Database
from server.db.models import AuthToken, LoginChallenge, LoginFailure, User
from server.mailer import Mailer

logger = logging.getLogger(__name__)

# ============================================================================ server side

# scrypt with n=2**14, r=8, p=1 needs 16 MiB per hash: memory-hard, ~50 ms on a laptop core.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_MAXMEM_BYTES = 64 * 1024 * 1024
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024

CODE_LIFETIME = timedelta(minutes=5)
MAX_CODE_ATTEMPTS = 5
RESEND_INTERVAL = timedelta(seconds=30)
FAILURE_WINDOW = timedelta(minutes=15)
MAX_PASSWORD_FAILURES = 10

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def hash_password(password: str) -> str:
    """A self-describing scrypt hash: ``scrypt$n$r$p$salt$digest`` (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=SCRYPT_MAXMEM_BYTES
    )
    encoded_salt = base64.b64encode(salt).decode("ascii")
    encoded_digest = base64.b64encode(digest).decode("ascii")
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encoded_salt}${encoded_digest}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (constant-time compare)."""
    try:
        scheme, n, r, p, encoded_salt, encoded_digest = stored.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.b64decode(encoded_salt)
        expected = base64.b64decode(encoded_digest)
        digest = hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=int(n), r=int(r), p=int(p),
            maxmem=SCRYPT_MAXMEM_BYTES, dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)


@functools.cache
def _dummy_hash() -> str:
    """A hash checked when the username is unknown, so both failures cost the same time."""
    return hash_password(secrets.token_urlsafe(16))


def mask_email(address: str) -> str:
    """``alice@example.com`` → ``a***@example.com``."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def token_digest(token: str) -> str:
    """How a bearer token is stored: its SHA-256 hex (256-bit random input needs no salt)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_new_password(password: str) -> None:
    """Raise ConfigError unless the password is acceptable (at least 8 characters)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError({"password": f"must be at least {MIN_PASSWORD_LENGTH} characters"})
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ConfigError({"password": f"must be at most {MAX_PASSWORD_LENGTH} characters"})


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
        """Enable or disable an account; disabling stops its tokens at once."""
        with self.database.session() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise ConfigError({"username": f"no account named {username!r}"})
            user.is_enabled = enabled
        logger.info("account %s %s", username, "enabled" if enabled else "disabled")

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

    def _mail_code(self, user: User, code: str, expires_at: datetime) -> None:
        minutes = int(CODE_LIFETIME.total_seconds() // 60)
        body = (
            f"Hello {user.username},\n\n"
            f"Your Vinova sign-in code is: {code}\n\n"
            f"It works once and expires in {minutes} minutes "
            f"({expires_at.strftime('%H:%M')} UTC).\n"
            "If you did not try to sign in, change your password.\n"
        )
        self.mailer.send(user.email, "Your Vinova sign-in code", body)

    def _throttle_check(self, session: Session, user: User, now: datetime) -> None:
        window_start = now - FAILURE_WINDOW
        failures = list(
            session.scalars(
                select(LoginFailure.failed_at)
                .where(LoginFailure.user_id == user.id, LoginFailure.failed_at > window_start)
                .order_by(LoginFailure.failed_at)
            )
        )
        if len(failures) >= MAX_PASSWORD_FAILURES:
            # Locked until the oldest counted failure leaves the window.
            release = failures[len(failures) - MAX_PASSWORD_FAILURES] + FAILURE_WINDOW
            raise AuthError(
                "too many failed sign-in attempts; try again later",
                code="too_many_attempts",
                retry_after_seconds=_seconds_until(release, now),
            )

    def login(self, username: str, password: str) -> ChallengeIssued:
        """Check the password and mail a code to the account's own address; AuthError otherwise."""
        now = self.clock()
        with self.database.session() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                verify_password(password, _dummy_hash())
                raise AuthError("wrong username or password", code="invalid_credentials")
            self._throttle_check(session, user, now)
            failed = True
            if not verify_password(password, user.password_hash):
                # Recorded and committed before the error is raised: the failure counts.
                session.add(LoginFailure(user_id=user.id, failed_at=now))
                session.execute(
                    delete(LoginFailure).where(
                        LoginFailure.user_id == user.id, LoginFailure.failed_at <= now - FAILURE_WINDOW
                    )
                )
                logger.info("failed password for account %s", username)
            elif user.is_enabled:
                failed = False
                challenge_id = secrets.token_urlsafe(24)
                code = self._new_code()
                expires_at = now + CODE_LIFETIME
                session.add(
                    LoginChallenge(
                        id=challenge_id, user_id=user.id, code_hash=self._code_hash(challenge_id, code),
                        created_at=now, expires_at=expires_at, last_sent_at=now, failed_attempts=0,
                    )
                )
                session.flush()
                # Mail inside the transaction: if it cannot be sent, no challenge is left behind.
                self._mail_code(user, code, expires_at)
                issued = ChallengeIssued(challenge_id, mask_email(user.email), expires_at)
        if failed:
            raise AuthError("wrong username or password", code="invalid_credentials")
        logger.info("sign-in code mailed for account %s", username)
        return issued

    def resend(self, challenge_id: str) -> ChallengeIssued:
        """Mail a new code for a pending challenge (the old code stops working); at most once per 30 s."""
        now = self.clock()
        with self.database.session() as session:
            challenge = session.get(LoginChallenge, challenge_id) if challenge_id else None
            user = session.get(User, challenge.user_id) if challenge is not None else None
            if challenge is None or user is None or not user.is_enabled:
                raise AuthError("unknown sign-in attempt; sign in again", code="invalid_code")
            self._check_open(challenge, now)
            next_allowed = challenge.last_sent_at + RESEND_INTERVAL
            if now < next_allowed:
                raise AuthError(
                    "a new code can be sent once every 30 seconds",
                    code="resend_too_soon",
                    retry_after_seconds=_seconds_until(next_allowed, now),
                )
            code = self._new_code()
            challenge.code_hash = self._code_hash(challenge.id, code)
            challenge.last_sent_at = now
            challenge.expires_at = now + CODE_LIFETIME
            session.flush()
            self._mail_code(user, code, challenge.expires_at)
            return ChallengeIssued(challenge.id, mask_email(user.email), challenge.expires_at)

    @staticmethod
    def _check_open(challenge: LoginChallenge, now: datetime) -> None:
        if challenge.locked_at is not None:
            raise AuthError("too many wrong codes; sign in again", code="challenge_locked")
        if challenge.used_at is not None:
            raise AuthError("this code was already used; sign in again", code="code_used")

    def verify(self, challenge_id: str, code: str) -> IssuedToken:
        """Exchange a challenge and its mailed code for a bearer token."""
        now = self.clock()
        result: IssuedToken | AuthError
        with self.database.session() as session:
            challenge = session.get(LoginChallenge, challenge_id) if challenge_id else None
            user = session.get(User, challenge.user_id) if challenge is not None else None
            if challenge is None or user is None or not user.is_enabled:
                raise AuthError("wrong code", code="invalid_code")
            self._check_open(challenge, now)
            if now >= challenge.expires_at:
                raise AuthError("the code has expired; ask for a new one", code="code_expired")
            expected = challenge.code_hash
            if hmac.compare_digest(expected, self._code_hash(challenge.id, code)):
                challenge.used_at = now
                token = secrets.token_urlsafe(32)  # 256 bits
                expires_at = now + self.token_ttl
                session.add(
                    AuthToken(
                        user_id=user.id, token_hash=token_digest(token), created_at=now, expires_at=expires_at
                    )
                )
                result = IssuedToken(token, expires_at, user.username, user.is_admin)
            else:
                challenge.failed_attempts += 1
                if challenge.failed_attempts >= MAX_CODE_ATTEMPTS:
                    challenge.locked_at = now
                    result = AuthError("too many wrong codes; sign in again", code="challenge_locked")
                else:
                    result = AuthError("wrong code", code="invalid_code")
        # Raised after the commit, so a wrong attempt is counted.
        if isinstance(result, AuthError):
            raise result
        logger.info("account %s signed in", result.username)
        return result

    # ---------------------------------------------------------------- tokens
    def authenticate(self, token: str) -> Principal:
        """The account behind a bearer token; AuthError when unknown, expired, revoked or disabled."""
        if not token:
            raise AuthError("sign in first")
        now = self.clock()
        with self.database.session() as session:
            row = session.execute(
                select(AuthToken, User)
                .join(User, User.id == AuthToken.user_id)
                .where(AuthToken.token_hash == token_digest(token))
            ).first()
            if row is None:
                raise AuthError("the token is not valid; sign in again")
            stored, user = row
            if stored.revoked_at is not None or now >= stored.expires_at or not user.is_enabled:
                raise AuthError("the token is not valid; sign in again")
            return Principal(user.id, user.username, user.email, user.is_admin, stored.expires_at)

    def logout(self, token: str) -> None:
        """Revoke a token (unknown or already revoked tokens are ignored)."""
        now = self.clock()
        with self.database.session() as session:
            stored = session.scalar(select(AuthToken).where(AuthToken.token_hash == token_digest(token)))
            if stored is not None and stored.revoked_at is None:
                stored.revoked_at = now
