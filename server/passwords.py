"""Password hashes (scrypt, memory-hard), token digests and masked addresses: the pure parts of sign-in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from contract.errors import ConfigError

# scrypt with n=2**14, r=8, p=1 needs 16 MiB per hash: memory-hard, ~50 ms on a laptop core.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_MAXMEM_BYTES = 64 * 1024 * 1024
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024

# Checked when the name is unknown, with the parameters of every real hash, so an unknown name costs
# what a wrong password does (random bytes: no password matches it).
DUMMY_PASSWORD_HASH = (
    f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}$5Kv1z4+HuPg086E0SEu5pQ==$"
    "mFBLColQ2A2yCvLnN9q9xg+cwIWVf/N4qKrjzrrILK1HCTez85eSAQbByayRy5ZJ9jzto0pacMSRQlAmd2MpOA=="
)


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
