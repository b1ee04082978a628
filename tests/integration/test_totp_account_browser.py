"""/account in headless Chromium: turn on an authenticator app from the page, sign in with it, end a session.

The secret is read from the page as a person would copy it, the code computed with pyotp; the
page's Content-Security-Policy is the server's own (no inline script, images from data: only).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
import requests
from conftest import SmtpCapture
from server_support import add_user, bearer, latest_code, make_app, sign_in, smtp_settings
from support import live_server, running_chromium

from server.context import services_of

pytestmark = pytest.mark.integration

PASSWORD = "user password 1"


@pytest.fixture
def chromium() -> Iterator[Any]:
    """A headless Chromium (skipped when /usr/bin/chromium is missing)."""
    with running_chromium() as browser:
        yield browser


def test_a_person_turns_on_the_app_on_account_then_signs_in_with_it_and_ends_a_session(
    tmp_path: Path, smtp_server: SmtpCapture, chromium: Any
) -> None:
    from playwright.sync_api import expect

    app = make_app(f"sqlite:///{tmp_path / 'vinova.db'}", tmp_path, **smtp_settings(smtp_server))
    add_user(app, "ann", "ann@example.com", PASSWORD)
    page = chromium.new_page()
    page.set_default_timeout(15000)
    refused: list[str] = []  # every answer of 400 or more the page got (the browser's own favicon aside)
    page.on("response", lambda answer: refused.append(f"{answer.status} {answer.url}")
            if answer.status >= 400 and not answer.url.endswith("/favicon.ico") else None)
    try:
        with live_server(app) as base_url:
            desktop = sign_in(base_url, "ann", PASSWORD, lambda: latest_code(smtp_server, "ann@"))
            # A person who is not an admin signs in on the same page and reaches /account.
            page.goto(f"{base_url}/admin/login")
            page.fill("#username", "ann")
            page.fill("#password", PASSWORD)
            page.click("form.card button[type=submit]")
            smtp_server.wait_for_message("ann@example.com", count=2)
            page.fill("#code", latest_code(smtp_server, "ann@example.com"))
            page.click("form.card button[type=submit]")
            page.goto(f"{base_url}/account")
            expect(page.locator("#totp-state")).to_contain_text("Off")
            expect(page.locator("#session-list")).to_contain_text("(this session)")

            page.click("#totp-start")
            qr = page.locator("#totp-qr svg")
            expect(qr).to_be_visible()
            assert qr.bounding_box()["width"] >= 100  # drawn large enough to scan
            secret = page.locator("#totp-secret").inner_text().strip()
            page.fill("#totp-code", pyotp.TOTP(secret).now())
            page.click("#totp-confirm button[type=submit]")
            codes = page.locator("#recovery-codes li").all_inner_texts()
            assert len(codes) == 10 and all(len(code) == 11 for code in codes)
            page.goto(f"{base_url}/account")  # seen again later: the codes are not shown again
            expect(page.locator("#recovery-codes")).to_have_count(0)
            expect(page.locator("#totp-state")).to_contain_text("10 recovery codes left")

            # The desktop's token is listed; signing it out here ends it at once.
            row = page.locator("#session-list tr.session-desktop")
            expect(row).to_have_count(1)
            row.locator("button").click()
            expect(page.locator(".notice")).to_contain_text("signed out")
            expect(page.locator("#session-list tr.session-desktop")).to_have_count(0)
            assert requests.get(f"{base_url}/auth/me", headers=bearer(desktop), timeout=10).status_code == 401

            # A new browser signs in with a recovery code: no mail goes out.
            mails_before = len(smtp_server.messages_to("ann@example.com"))
            other = chromium.new_page()
            other.goto(f"{base_url}/admin/login")
            other.fill("#username", "ann")
            other.fill("#password", PASSWORD)
            other.click("form.card button[type=submit]")
            expect(other.locator("#verify-hint")).to_contain_text("authenticator app")
            other.fill("#code", codes[0])
            other.click("form.card button[type=submit]")
            other.goto(f"{base_url}/account")
            expect(other.locator("#totp-state")).to_contain_text("9 recovery codes left")
            assert len(smtp_server.messages_to("ann@example.com")) == mails_before
            other.close()

            page.reload()
            expect(page.locator("#session-list tr.session-web")).to_have_count(2)
            page.click("#sign-out-everywhere button")
            expect(page.locator("#username")).to_be_visible()  # back on the sign-in page
        assert refused == []
    finally:
        page.close()
        services_of(app).database.dispose()
