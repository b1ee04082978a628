"""The one retry table: statuses and stable codes to RETRY / REFUSE / RESIGN / SIGN_IN."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contract.retry import (
    API_CODES,
    DONE,
    REFUSE,
    RESIGN,
    RETRY,
    SIGN_IN,
    STORE_CODES,
    Outcome,
    classify,
    retry_after_seconds,
)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (None, None, RETRY),  # no answer: refused, reset or timed out
        (500, "internal_error", RETRY),
        (502, None, RETRY),
        (503, "mail_unavailable", RETRY),
        (503, "database_unavailable", RETRY),
        (503, "validation_error", RETRY),  # a 5xx is retried whatever its body says
        (408, None, RETRY),
        (429, None, RETRY),
        (401, "unauthorized", SIGN_IN),
        (401, None, SIGN_IN),
        (401, "invalid_credentials", REFUSE),  # sign-in refusals are the user's to fix
        (429, "too_many_attempts", REFUSE),
        (429, "resend_too_soon", REFUSE),
        (400, "validation_error", REFUSE),
        (403, "forbidden", REFUSE),
        (404, None, REFUSE),
        (413, "payload_too_large", REFUSE),
        (418, "never_heard_of_it", REFUSE),
        (200, None, None),
        (204, None, None),
        (304, None, None),
    ],
)
def test_server_answers(status: int | None, code: str | None, expected: Outcome | None) -> None:
    assert classify(status, code) is expected


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (503, "SlowDown", RETRY),
        (500, "InternalError", RETRY),
        (400, "RequestTimeout", RETRY),
        (403, "RequestTimeTooSkewed", RETRY),
        (403, "AccessDenied", RESIGN),  # S3's answer to an expired presigned request
        (400, "ExpiredToken", RESIGN),
        (403, "forbidden", RESIGN),  # the server's local store: an expired or bad link
        (409, "link_used", RESIGN),  # the local store: a link is single-use
        (403, "SignatureDoesNotMatch", REFUSE),
        (404, "NoSuchBucket", REFUSE),
        (400, "InvalidArgument", REFUSE),
        (401, None, SIGN_IN),
        (429, "TooManyRequests", RETRY),
        (403, None, REFUSE),
        (200, None, None),
    ],
)
def test_object_store_answers(status: int, code: str | None, expected: Outcome | None) -> None:
    assert classify(status, code, STORE_CODES) is expected


def test_the_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        API_CODES["forbidden"] = RETRY  # type: ignore[index]
    with pytest.raises(TypeError):
        STORE_CODES["AccessDenied"] = RETRY  # type: ignore[index]


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("0.5", 0.5), (" 12 ", 12.0), ("-3", 0.0),
                                                 (None, None), ("soon", None), ("", None)])
def test_retry_after_is_read_in_seconds(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds


@pytest.mark.parametrize(("header", "seconds"), [
    ("1e9", 3600.0),  # issue 10 item 13: delivery stalled until restart
    ("3601", 3600.0),
    ("3600", 3600.0),
    ("inf", None),
    ("-inf", None),
    ("nan", None),
    ("1e400", None),  # float() overflows to inf
    ("-1e9", 0.0),
])
def test_retry_after_is_bounded_to_an_hour_and_odd_numbers_fall_back_to_the_backoff(
    header: str, seconds: float | None
) -> None:
    assert retry_after_seconds(header) == seconds


def test_retry_after_as_an_http_date_counts_from_now_and_is_bounded() -> None:
    def now() -> datetime:
        return datetime(2026, 11, 25, 18, 0, tzinfo=UTC)

    assert retry_after_seconds("Wed, 25 Nov 2026 18:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Wed, 25 Nov 2026 17:00:00 GMT", now) == 0.0  # already past
    assert retry_after_seconds("Fri, 31 Dec 9999 23:59:59 GMT", now) == 3600.0
    assert retry_after_seconds("Mon, 01 Jan 0001 00:00:00 GMT", now) == 0.0
    assert retry_after_seconds("Wed, 99 Foo 2026 18:00:30 GMT", now) is None


def test_an_already_registered_key_counts_as_delivered() -> None:
    assert classify(409, "already_registered") is DONE
    assert classify(409, None) is REFUSE  # another conflict is not a success
