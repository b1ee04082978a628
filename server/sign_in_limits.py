"""How many sign-in attempts are let through, per name, address and account (issue 10 items 9-11).

Passwords are counted by the lowercased *submitted* name, so an unknown name and a real account go
through the same counters, statements and answers and cannot be told apart:

- 10 failures per (name, client address) per 15 minutes: one address cannot guess or lock a name,
  and another address's failures never block the real user;
- 100 failures per client address per 15 minutes, whatever the names (password spraying);
- 100 consecutive failures per name from every address (NIST SP 800-63B 5.2.2): then the name is
  refused everywhere until a success or an administrator (``flask unlock-user``); the admins get one mail.

Codes: 10 wrong codes per account per 15 minutes across its challenges (then even the right code
waits), and 5 mailed codes (new challenges and resends) per account per 15 minutes.
Every attempt reserves its place before the password or code is checked (server/db/throttle.py),
so concurrency cannot push more checks through than these numbers.
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from contract.errors import AuthError
from server.db import throttle
from server.db.throttle import RunLimit, WindowLimit

logger = logging.getLogger(__name__)

WINDOW = timedelta(minutes=15)
NAME_ADDRESS_FAILURES = WindowLimit("password_name_address", 10, WINDOW)
ADDRESS_FAILURES = WindowLimit("password_address", 100, WINDOW)
NAME_CONSECUTIVE_FAILURES = RunLimit("password_name_run", 100)
WRONG_CODES = WindowLimit("code_account", 10, WINDOW)
MAILED_CODES = WindowLimit("mail_account", 5, WINDOW)
RUN_LIMITS = (NAME_CONSECUTIVE_FAILURES,)
# A name locked by the consecutive ceiling has no end time; this is what Retry-After says.
LOCKED_RETRY_AFTER_SECONDS = int(WINDOW.total_seconds())

TOO_MANY_PASSWORDS = "too many failed sign-in attempts; try again later"
TOO_MANY_CODES = "too many wrong codes for this account; try again later"
TOO_MANY_MAILS = "too many sign-in codes were sent to this account; try again later"


def address_key(client_address: str) -> str:
    """What a client address counts as: the IPv4 address, or the /64 an IPv6 host is given."""
    try:
        parsed = ipaddress.ip_address(client_address.strip())
    except ValueError:
        return client_address.strip()[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def _name_key(submitted_name: str) -> str:
    return throttle.counter_key("name", submitted_name.lower())


def _name_address_key(submitted_name: str, client_address: str) -> str:
    return throttle.counter_key("name", submitted_name.lower(), "address", address_key(client_address))


def _refused(message: str, retry_after_seconds: int) -> AuthError:
    return AuthError(message, code="too_many_attempts", retry_after_seconds=retry_after_seconds)


def reserve_password(session: Session, submitted_name: str, client_address: str, now: datetime) -> int:
    """Count a password attempt before it is checked; AuthError 429 (nothing counted) at a limit.

    Returns the name's consecutive-failure count including this attempt. Raising inside the
    caller's transaction rolls back the places already taken.
    """
    pair = _name_address_key(submitted_name, client_address)
    address = throttle.counter_key("address", address_key(client_address))
    if throttle.reserve_window(session, NAME_ADDRESS_FAILURES, pair, now) is None:
        raise _refused(TOO_MANY_PASSWORDS, throttle.window_retry_after_seconds(
            session, NAME_ADDRESS_FAILURES, pair, now))
    if throttle.reserve_window(session, ADDRESS_FAILURES, address, now) is None:
        raise _refused(TOO_MANY_PASSWORDS, throttle.window_retry_after_seconds(
            session, ADDRESS_FAILURES, address, now))
    run = throttle.reserve_run(session, NAME_CONSECUTIVE_FAILURES, _name_key(submitted_name), now)
    if run is None:
        raise _refused(TOO_MANY_PASSWORDS, LOCKED_RETRY_AFTER_SECONDS)
    return run


def password_succeeded(session: Session, submitted_name: str, client_address: str, now: datetime) -> None:
    """A right password: give back its places in the windows and end the name's run of failures."""
    pair = _name_address_key(submitted_name, client_address)
    throttle.release_window(session, NAME_ADDRESS_FAILURES, pair, now)
    throttle.release_window(
        session, ADDRESS_FAILURES, throttle.counter_key("address", address_key(client_address)), now
    )
    throttle.reset(session, NAME_CONSECUTIVE_FAILURES.scope, _name_key(submitted_name))


def unlock_name(session: Session, name: str) -> None:
    """An administrator lifts the consecutive-failure lock of ``name``."""
    throttle.reset(session, NAME_CONSECUTIVE_FAILURES.scope, _name_key(name))


def is_name_locked(session: Session, name: str) -> bool:
    """True when ``name`` reached the consecutive-failure ceiling."""
    run = throttle.run_length(session, NAME_CONSECUTIVE_FAILURES, _name_key(name))
    return run >= NAME_CONSECUTIVE_FAILURES.maximum


def _account_key(user_id: int) -> str:
    return throttle.counter_key("account", str(user_id))


def reserve_code(session: Session, user_id: int, now: datetime) -> None:
    """Count a code attempt on the account before it is checked; AuthError 429 at the limit."""
    key = _account_key(user_id)
    if throttle.reserve_window(session, WRONG_CODES, key, now) is None:
        raise _refused(TOO_MANY_CODES, throttle.window_retry_after_seconds(session, WRONG_CODES, key, now))


def code_succeeded(session: Session, user_id: int, now: datetime) -> None:
    """A right code gives its place back: only wrong codes count."""
    throttle.release_window(session, WRONG_CODES, _account_key(user_id), now)


def reserve_mail(session: Session, user_id: int, now: datetime) -> None:
    """Count a code mail to the account before it is sent; AuthError 429 at the limit."""
    key = _account_key(user_id)
    if throttle.reserve_window(session, MAILED_CODES, key, now) is None:
        raise _refused(TOO_MANY_MAILS, throttle.window_retry_after_seconds(session, MAILED_CODES, key, now))


def mail_failed(session: Session, user_id: int, now: datetime) -> None:
    """A mail that could not be sent does not count."""
    throttle.release_window(session, MAILED_CODES, _account_key(user_id), now)


def purge(session: Session, now: datetime, older_than: timedelta) -> int:
    """Delete counters untouched for ``older_than`` (a name locked by the ceiling keeps its lock)."""
    return throttle.purge(session, now, older_than, RUN_LIMITS)
