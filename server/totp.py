"""Authenticator apps (TOTP, RFC 6238): setup, confirmation, recovery codes, the code check at sign-in.

The base32 secret is sealed at rest with AES-256-GCM under a key derived from the server's secret
key (SHA-256 of a fixed label and the key), the user id bound in as associated data, so a copied
database alone yields no secret and a sealed secret cannot be moved to another account. A code is
accepted within ±1 time step of 30 s, and each step only once: the step is kept in
``users.totp_last_step`` and only a later step passes (one conditional UPDATE). Recovery codes are
10 random codes of 50 bits, kept as HMAC-SHA256 under the same derived key, each usable once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select

from contract.errors import ConfigError, RequestRefused
from server.db import totp_data
from server.db.database import Database
from server.db.models import User

logger = logging.getLogger(__name__)

ISSUER = "Vinova"
DIGITS = 6
STEP_SECONDS = 30
# How many steps either side of now a code may come from (clock drift, typing time).
WINDOW_STEPS = 1
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/i/l
RECOVERY_CODE_LENGTH = 10
SEAL_PREFIX = "v1:"
NONCE_BYTES = 12


@dataclass(frozen=True, slots=True)
class TotpSetup:
    """A secret waiting for its first code: the base32 text and the otpauth:// URI of the QR code."""

    secret: str
    otpauth_uri: str


def step_at(moment: datetime, step_seconds: int = STEP_SECONDS) -> int:
    """The RFC 6238 time step (T) of ``moment``: whole steps since the Unix epoch."""
    return int(moment.timestamp()) // step_seconds


def matching_step(
    secret: str, code: str, moment: datetime, *, digits: int = DIGITS, digest: Any = hashlib.sha1,
    step_seconds: int = STEP_SECONDS, window_steps: int = WINDOW_STEPS,
) -> int | None:
    """The time step within ±``window_steps`` of ``moment`` whose code is ``code``, or None.

    Every candidate is compared in constant time, so the answer's timing does not say which one matched.
    """
    if len(code) != digits or not code.isdigit():
        return None
    generator = pyotp.TOTP(secret, digits=digits, digest=digest, interval=step_seconds)
    now_step = step_at(moment, step_seconds)
    found = None
    for step in range(now_step - window_steps, now_step + window_steps + 1):
        if hmac.compare_digest(generator.generate_otp(step), code) and found is None:
            found = step
    return found


def normalize_recovery_code(text: str) -> str:
    """A typed recovery code without spaces and dashes, lowercased."""
    return "".join(character for character in text.lower() if character not in " -")


def qr_svg(uri: str) -> str:
    """The QR code of ``uri`` as an inline SVG element (no script, no external reference)."""
    code = segno.make(uri, error="m")
    return str(code.svg_inline(scale=5, border=2, title="QR code for your authenticator app"))


class TotpService:
    """The authenticator app of each account, on top of the database."""

    def __init__(self, database: Database, *, secret_key: str, clock: Callable[[], datetime]) -> None:
        self.database = database
        self.clock = clock
        self._key = hashlib.sha256(b"vinova-totp:" + secret_key.encode("utf-8")).digest()

    # ---------------------------------------------------------------- sealing
    def _seal(self, user_id: int, secret: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self._key).encrypt(nonce, secret.encode("ascii"), str(user_id).encode())
        return SEAL_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def _unseal(self, user_id: int, stored: str | None) -> str | None:
        if not stored or not stored.startswith(SEAL_PREFIX):
            return None
        try:
            raw = base64.urlsafe_b64decode(stored[len(SEAL_PREFIX):])
            plain = AESGCM(self._key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], str(user_id).encode())
        except (InvalidTag, ValueError):
            logger.warning("the authenticator secret of account %d cannot be opened (other key?)", user_id)
            return None
        return plain.decode("ascii")

    def _recovery_hash(self, user_id: int, code: str) -> str:
        return hmac.new(self._key, f"recovery:{user_id}:{code}".encode(), hashlib.sha256).hexdigest()

    # ---------------------------------------------------------------- state
    def is_enabled(self, user_id: int) -> bool:
        """Whether the account signs in with its authenticator app."""
        with self.database.session() as session:
            enabled_at = session.scalar(select(User.totp_enabled_at).where(User.id == user_id))
        return enabled_at is not None

    def signs_in_with_app(self, user: User) -> bool:
        """Whether ``user``'s sign-ins take the app's code: on, and its secret opens under this key.

        A secret sealed under another ``VINOVA_SECRET_KEY`` cannot be checked; such an account gets
        mailed codes instead of being locked out.
        """
        return user.totp_enabled_at is not None and self._unseal(user.id, user.totp_secret) is not None

    def recovery_codes_left(self, user_id: int) -> int:
        """How many unused recovery codes the account has."""
        with self.database.session() as session:
            return totp_data.unused_recovery_codes(session, user_id)

    def admins_must_use_app(self) -> bool:
        """Whether administrators must sign in with an authenticator app (an admin's setting)."""
        with self.database.session() as session:
            return totp_data.policy_enabled(session, totp_data.REQUIRE_ADMIN_TOTP)

    def set_admins_must_use_app(self, enabled: bool, actor: str) -> None:
        """Turn the rule "administrators use an authenticator app" on or off."""
        with self.database.session() as session:
            totp_data.set_policy(session, totp_data.REQUIRE_ADMIN_TOTP, enabled, actor, self.clock())
        state = "on" if enabled else "off"
        logger.info("%s turned %s the authenticator requirement for admins", actor, state)

    # ---------------------------------------------------------------- turning on and off
    def begin_setup(self, user_id: int) -> TotpSetup:
        """A new secret, kept (sealed) until a code from it confirms it; refused while the app is on."""
        secret = pyotp.random_base32()
        with self.database.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise ConfigError({"user": "no such account"})
            if user.totp_enabled_at is not None:
                raise RequestRefused(
                    "the authenticator app is already on; turn it off first to set up another",
                    status=409, code="totp_already_enabled",
                )
            user.totp_secret = self._seal(user_id, secret)
            user.totp_last_step = None
            username = user.username
        uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)
        logger.info("authenticator setup started for account %s", username)
        return TotpSetup(secret, uri)

    def pending_setup(self, user_id: int) -> TotpSetup | None:
        """The secret waiting for confirmation (to draw it again on the page), or None."""
        with self.database.session() as session:
            user = session.get(User, user_id)
            if user is None or user.totp_enabled_at is not None:
                return None
            secret = self._unseal(user_id, user.totp_secret)
            username = user.username
        if secret is None:
            return None
        return TotpSetup(secret, pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER))

    def confirm(self, user_id: int, code: str) -> list[str]:
        """Turn the app on with a current code of the pending secret; the recovery codes, shown once."""
        now = self.clock()
        with self.database.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise ConfigError({"user": "no such account"})
            if user.totp_enabled_at is not None:
                raise RequestRefused("the authenticator app is already on", status=409,
                                     code="totp_already_enabled")
            secret = self._unseal(user_id, user.totp_secret)
            if secret is None:
                raise RequestRefused("set up the authenticator app first (POST /auth/totp/setup)", status=409,
                                     code="totp_not_set_up")
            step = matching_step(secret, code.replace(" ", "").strip(), now)
            if step is None or not totp_data.use_step(session, user_id, step):
                raise ConfigError({"code": "is not the current code of the authenticator app"})
            user.totp_enabled_at = now
            codes = [self._new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
            hashes = [self._recovery_hash(user_id, normalize_recovery_code(code)) for code in codes]
            totp_data.replace_recovery_codes(session, user_id, hashes, now)
            username = user.username
        logger.info("authenticator app turned on for account %s", username)
        return codes

    def disable(self, user_id: int) -> None:
        """Turn the app off: forget secret, last step and recovery codes (the caller checked the password)."""
        with self.database.session() as session:
            user = session.get(User, user_id)
            if user is None:
                return
            user.totp_secret, user.totp_enabled_at, user.totp_last_step = None, None, None
            totp_data.delete_recovery_codes(session, user_id)
            username = user.username
        logger.info("authenticator app turned off for account %s", username)

    @staticmethod
    def _new_recovery_code() -> str:
        text = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        return f"{text[:5]}-{text[5:]}"

    # ---------------------------------------------------------------- sign-in
    def check_sign_in_code(self, user_id: int, code: str) -> bool:
        """True when ``code`` is an unused current app code or an unused recovery code; it is then spent."""
        now = self.clock()
        with self.database.session() as session:
            user = session.get(User, user_id)
            if user is None or user.totp_enabled_at is None:
                return False
            digits = code.strip().replace(" ", "")
            if len(digits) == DIGITS and digits.isdigit():
                secret = self._unseal(user_id, user.totp_secret)
                step = None if secret is None else matching_step(secret, digits, now)
                return step is not None and totp_data.use_step(session, user_id, step)
            normalized = normalize_recovery_code(code)
            if len(normalized) != RECOVERY_CODE_LENGTH:
                return False
            digest = self._recovery_hash(user_id, normalized)
            used = totp_data.use_recovery_code(session, user_id, digest, now)
        if used:
            logger.info("a recovery code was used for account %s", user.username)
        return used
