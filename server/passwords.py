"""Password hashes (scrypt, memory-hard), the rules for new passwords, token digests and masked addresses.

The rules are NIST SP 800-63B 5.1.1's: 8 to 256 characters, any characters (spaces and emoji too),
not the account's name, not one of the common passwords of ``server/data/common-passwords.txt``; no
composition rules and no expiry.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import unicodedata
from pathlib import Path

from contract.errors import ConfigError

# scrypt with n=2**14, r=8, p=1 needs 16 MiB per hash: memory-hard, ~50 ms on a laptop core.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_MAXMEM_BYTES = 64 * 1024 * 1024
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
UNSET_PREFIX = "!"
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt"

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


def unset_password_hash() -> str:
    """The hash of an account whose person has not chosen a password yet (an invitation).

    ``!`` before the scrypt hash of a random secret nobody knows (as a ``!`` marks a locked password
    in /etc/shadow): nothing matches it, and checking it costs what a real password costs.
    """
    return UNSET_PREFIX + hash_password(secrets.token_urlsafe(32))


def has_password(stored: str) -> bool:
    """False while the account waits for its person to choose a password."""
    return not stored.startswith(UNSET_PREFIX)


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (constant-time compare); never for an unset password."""
    if not has_password(stored):
        verify_password(password, stored.removeprefix(UNSET_PREFIX))  # the same work as a real check
        return False
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


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lowercased (read once, on first use)."""
    with COMMON_PASSWORDS_FILE.open(encoding="utf-8") as handle:
        return frozenset(line.rstrip("\r\n").casefold() for line in handle if line.strip())


def _comparable(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def password_problem(password: str, username: str = "") -> str | None:
    """Why ``password`` may not be chosen (the message of the ``password`` field), or None when it may.

    Length counts characters after NFKC normalisation (SP 800-63B: each code point is one character).
    """
    normalised = unicodedata.normalize("NFKC", password)
    if len(normalised) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(normalised) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    if username and _comparable(password) == _comparable(username):
        return "must not be your username"
    if _comparable(password) in common_passwords():
        return "is one of the most common passwords; choose another (a few words make a good one)"
    return None


def check_new_password(password: str, username: str = "") -> None:
    """Raise ConfigError naming ``password`` unless it may be chosen (:func:`password_problem`)."""
    problem = password_problem(password, username)
    if problem is not None:
        raise ConfigError({"password": problem})
