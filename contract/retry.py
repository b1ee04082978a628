"""Is this answer worth retrying? One table from stable error codes and HTTP statuses to an outcome.

The decision is data, not code, read in this order:

1. no answer at all (connection refused, reset, timeout), a 5xx or a 408   -> RETRY
2. a stable error code the table knows (the server's JSON ``error.code`` or
   S3's XML ``<Code>``)                                                     -> the code's outcome
3. the status alone: 401 -> SIGN_IN, 429 -> RETRY, any other 4xx            -> REFUSE

Codes are read from explicit fields, never by searching a body for words such as "expired".
A ``requests.Response`` is falsy for 4xx/5xx, so callers pass the status as an ``int``
(``status = response.status_code``), never the response's truthiness.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType


class Outcome(enum.Enum):
    """What to do with a failed request."""

    RETRY = "retry"  # may pass: try again later with backoff and jitter
    REFUSE = "refuse"  # retrying cannot fix it: keep the item aside with the reason, never retry
    RESIGN = "resign"  # the signed URL (or its credentials) went stale: ask the server for a new one
    SIGN_IN = "sign_in"  # the session has ended: stop and ask the user to sign in again


RETRY, REFUSE, RESIGN, SIGN_IN = Outcome.RETRY, Outcome.REFUSE, Outcome.RESIGN, Outcome.SIGN_IN

# The server's stable codes (docs/API.md). Codes whose outcome is their status's are listed anyway,
# so a reader sees every code the agent may meet.
API_CODES: Mapping[str, Outcome] = MappingProxyType({
    "unauthorized": SIGN_IN,
    # Sign-in refusals answer 401/429, but they are the user's to fix, not the session's or time's.
    "invalid_credentials": REFUSE,
    "invalid_code": REFUSE,
    "code_expired": REFUSE,
    "code_used": REFUSE,
    "too_many_attempts": REFUSE,
    "challenge_locked": REFUSE,
    "resend_too_soon": REFUSE,
    "bad_request": REFUSE,
    "validation_error": REFUSE,
    "forbidden": REFUSE,
    "not_found": REFUSE,
    "not_uploaded": REFUSE,
    "method_not_allowed": REFUSE,
    "payload_too_large": REFUSE,
    "internal_error": RETRY,
    "mail_unavailable": RETRY,
})

# What an object store answers to a PUT: S3's XML ``<Code>`` and the server's local store's JSON code.
STORE_CODES: Mapping[str, Outcome] = MappingProxyType({
    "InternalError": RETRY,
    "ServiceUnavailable": RETRY,
    "SlowDown": RETRY,
    "RequestTimeout": RETRY,  # S3 answers it with 400
    # The signing clock is off; the captures stay queued until it is put right.
    "RequestTimeTooSkewed": RETRY,
    # S3 answers an expired presigned request with 403 AccessDenied; a fresh URL tells whether it
    # was only expiry (the uploader re-signs once, then refuses).
    "AccessDenied": RESIGN,
    "ExpiredToken": RESIGN,  # the signer's temporary credentials ran out
    "SignatureDoesNotMatch": REFUSE,  # re-signing with the same keys would fail the same way
    "InvalidAccessKeyId": REFUSE,
    "NoSuchBucket": REFUSE,
    "InvalidArgument": REFUSE,
    "EntityTooLarge": REFUSE,
    # The server's local store answers 403 forbidden for an expired (or bad) link.
    "forbidden": RESIGN,
    "validation_error": REFUSE,
    "payload_too_large": REFUSE,
})

STATUSES: Mapping[int, Outcome] = MappingProxyType({401: SIGN_IN, 408: RETRY, 429: RETRY})


def classify(
    status: int | None, code: str | None = None, codes: Mapping[str, Outcome] = API_CODES
) -> Outcome | None:
    """The outcome of an answer (``status`` None = no answer); None for a success (status < 400)."""
    if status is None or status >= 500 or status == 408:
        return RETRY
    if status < 400:
        return None
    if code is not None and code in codes:
        return codes[code]
    return STATUSES.get(status, REFUSE)


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (>= 0), or None when absent or not a number of seconds."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
