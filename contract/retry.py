"""Is this answer worth retrying? One table from stable error codes and HTTP statuses to an outcome.

The decision is data, not code, read in this order:

1. no answer at all (connection refused, reset, timeout), a 5xx or a 408   -> RETRY
2. a stable error code the table knows (the server's JSON ``error.code`` or
   S3's XML ``<Code>``)                                                     -> the code's outcome
3. the status alone: 401 -> SIGN_IN, 429 -> RETRY, any other 4xx            -> REFUSE

DONE is the one success hidden in a refusal: ``409 already_registered`` from ``POST /uploads/sign``
means the server already holds that capture (keys are content-addressed), so the upload is finished.
A ``Retry-After`` is read by :func:`retry_after_seconds` only, bounded to ``[0, 3600]`` seconds.

Codes are read from explicit fields, never by searching a body for words such as "expired".
A ``requests.Response`` is falsy for 4xx/5xx, so callers pass the status as an ``int``
(``status = response.status_code``), never the response's truthiness.
"""

from __future__ import annotations

import email.utils
import enum
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType

# A server (or a proxy in front of it) asking for more than an hour is treated as asking for an
# hour: Retry-After "1e9" or a date years away would otherwise stop delivery until a restart.
MAX_RETRY_AFTER_SECONDS = 3600.0


class Outcome(enum.Enum):
    """What to do with a failed request."""

    RETRY = "retry"  # may pass: try again later with backoff and jitter
    REFUSE = "refuse"  # retrying cannot fix it: keep the item aside with the reason, never retry
    RESIGN = "resign"  # the signed URL (or its credentials) went stale: ask the server for a new one
    SIGN_IN = "sign_in"  # the session has ended: stop and ask the user to sign in again
    DONE = "done"  # the server already has what we were sending: count it as delivered


RETRY, REFUSE, RESIGN, SIGN_IN, DONE = (
    Outcome.RETRY, Outcome.REFUSE, Outcome.RESIGN, Outcome.SIGN_IN, Outcome.DONE
)

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
    # 409 from POST /uploads/sign: that key is registered, its bytes are stored (item 8 of issue 10).
    "already_registered": DONE,
    "internal_error": RETRY,
    "mail_unavailable": RETRY,
    "database_unavailable": RETRY,
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
    # A local upload link works once: a PUT retried after a lost answer needs a fresh link (and the
    # fresh sign answers already_registered if the first PUT was in fact kept and registered).
    "link_used": RESIGN,
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


def retry_after_seconds(
    value: str | None, now: Callable[[], datetime] | None = None
) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP-date) as seconds in ``[0, 3600]``; None when unusable.

    ``inf``, ``nan`` and garbage are None (the caller's own backoff applies); a negative number or a
    past date is 0; anything beyond an hour is an hour. ``now`` (tz-aware UTC) dates an HTTP-date.
    """
    if value is None:
        return None
    text = str(value).strip()
    seconds: float | None
    try:
        seconds = float(text)
    except ValueError:
        seconds = _seconds_until_date(text, now)
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(MAX_RETRY_AFTER_SECONDS, max(0.0, seconds))


def _seconds_until_date(text: str, now: Callable[[], datetime] | None) -> float | None:
    """Seconds from now until an HTTP-date (RFC 9110 IMF-fixdate and its older forms), or None."""
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    current = now() if now is not None else datetime.now(UTC)
    try:
        return (moment - current).total_seconds()
    except OverflowError:
        return None
