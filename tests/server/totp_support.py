"""Helpers of the authenticator-app and session tests: a browser sign-in, a CSRF token, an app's code."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pyotp
from flask.testing import FlaskClient

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_SECRET = re.compile(r'id="totp-secret">([A-Z2-7]+)<')
_RECOVERY = re.compile(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>")


def csrf_of(html: str) -> str:
    """The CSRF token of the first form in ``html``."""
    match = _CSRF.search(html)
    if match is None:
        raise AssertionError("no CSRF token on the page")
    return match.group(1)


def secret_of(html: str) -> str:
    """The base32 key the /account page shows while the app is being set up."""
    match = _SECRET.search(html)
    if match is None:
        raise AssertionError("no authenticator key on the page")
    return match.group(1)


def recovery_codes_of(html: str) -> list[str]:
    """The recovery codes the /account page shows once."""
    return _RECOVERY.findall(html)


def app_code(secret: str, moment: datetime, steps: int = 0) -> str:
    """What an authenticator app shows at ``moment`` shifted by ``steps`` time steps of 30 s."""
    return str(pyotp.TOTP(secret).at(moment + timedelta(seconds=30 * steps)))


def web_sign_in(client: FlaskClient, username: str, password: str, code: Callable[[], str],
                user_agent: str = "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36") -> Any:
    """Sign ``client`` in through /admin/login and /admin/verify; the answer of the verify form."""
    headers = {"User-Agent": user_agent}
    page = client.get("/admin/login", headers=headers).get_data(as_text=True)
    form = {"csrf_token": csrf_of(page), "username": username, "password": password}
    client.post("/admin/login", data=form, headers=headers)
    page = client.get("/admin/verify", headers=headers).get_data(as_text=True)
    return client.post("/admin/verify", data={"csrf_token": csrf_of(page), "code": code()}, headers=headers)
