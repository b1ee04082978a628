"""The texts of sign-in mail: the code to the account, the lock alert to the administrators."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from contract.errors import TransientError
from server.mailer import Mailer
from server.sign_in_limits import NAME_CONSECUTIVE_FAILURES

logger = logging.getLogger(__name__)

CODE_LIFETIME_MINUTES = 5


def code_body(username: str, code: str, expires_at: datetime) -> str:
    """The mail that carries a sign-in code."""
    return (
        f"Hello {username},\n\n"
        f"Your Vinova sign-in code is: {code}\n\n"
        f"It works once and expires in {CODE_LIFETIME_MINUTES} minutes "
        f"({expires_at.strftime('%H:%M')} UTC).\n"
        "If you did not try to sign in, change your password.\n"
    )


def send_lock_alert(mailer: Mailer, addresses: Iterable[str], username: str) -> None:
    """Tell each administrator that ``username`` is locked after the consecutive-failure ceiling."""
    ceiling = NAME_CONSECUTIVE_FAILURES.maximum
    body = (
        f"The account {username} had {ceiling} wrong passwords in a row. Sign-in for it is now\n"
        "refused from every address until an administrator lifts the lock:\n\n"
        f"    flask --app app unlock-user {username}\n\n"
        "(enable-user lifts it too). Someone may be guessing its password.\n"
    )
    for address in addresses:
        try:
            mailer.send(address, f"Vinova: sign-in locked for {username}", body)
        except TransientError:
            logger.warning("could not mail the lock of account %s to an administrator", username)
    logger.warning("account %s locked after %d consecutive failed passwords", username, ceiling)
