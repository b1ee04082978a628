"""People and passwords in headless Chromium with real mail (aiosmtpd): invite, forgot password, CLI reset.

Every link is read from the mail the server sent and followed in the browser, as a person would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from conftest import SmtpCapture, running_smtp
from flask import Flask
from people_support import mails_to, wait_for_link
from server_support import add_user, bearer, latest_code, make_app, sign_in, smtp_settings
from support import live_server, running_chromium, wait_until

from server.context import services_of

pytestmark = pytest.mark.integration

ROOT_PASSWORD = "root password 1"


@dataclass
class Site:
    """The live server of this module, its mail and its app."""

    app: Flask
    base_url: str
    smtp: SmtpCapture


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One live server with an admin (root) whose mail goes to aiosmtpd, for the whole module."""
    data = tmp_path_factory.mktemp("people-browser")
    with running_smtp() as smtp:
        app = make_app(f"sqlite:///{data / 'vinova.db'}", data, **smtp_settings(smtp))
        add_user(app, "root", "root@example.com", ROOT_PASSWORD, admin=True)
        try:
            with live_server(app) as base_url:
                yield Site(app, base_url, smtp)
        finally:
            services_of(app).database.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium for the module (skipped when /usr/bin/chromium is missing)."""
    with running_chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a fresh browser context (its own cookies)."""
    context = browser.new_context()
    opened = context.new_page()
    opened.set_default_timeout(15000)
    try:
        yield opened
    finally:
        context.close()


def _web_sign_in(page: Any, site: Site, username: str, password: str, address: str) -> None:
    """Sign in on /admin/login with the password and the code mailed to ``address``."""
    from playwright.sync_api import expect

    before = len(site.smtp.messages_to(address))
    page.goto(f"{site.base_url}/admin/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("form.card button[type=submit]")
    site.smtp.wait_for_message(address, count=before + 1)
    page.fill("#code", latest_code(site.smtp, address))
    page.click("form.card button[type=submit]")
    expect(page.locator("nav")).to_contain_text("People")


def _code_of(site: Site, address: str) -> Callable[[], str]:
    """Reads the newest sign-in code mailed to ``address`` once it is there."""
    count = len(site.smtp.messages_to(address))

    def read() -> str:
        site.smtp.wait_for_message(address, count=count + 1)
        return latest_code(site.smtp, address)

    return read


def _choose_password(page: Any, url: str, password: str) -> None:
    page.goto(url)
    page.fill("#password", password)
    page.fill("#password_again", password)
    page.click("form.card button[type=submit]")


def test_an_invited_person_follows_the_mailed_link_chooses_a_password_and_signs_in(
    site: Site, page: Any
) -> None:
    from playwright.sync_api import expect

    _web_sign_in(page, site, "root", ROOT_PASSWORD, "root@example.com")
    page.click("text=People")
    expect(page.locator("h1")).to_have_text("People")
    page.fill("#invite-username", "ann")
    page.fill("#invite-email", "ann@example.com")
    page.click("form#invite button[type=submit]")
    expect(page.locator(".notice")).to_contain_text("Invitation mailed to ann@example.com")
    expect(page.locator("#person-ann .status")).to_contain_text("Invited")

    link = wait_for_link(site.smtp, "ann@example.com", "welcome")
    assert link.startswith(f"{site.base_url}/welcome/")  # the address the admin's request came to
    _choose_password(page, link, "password1")  # common: refused, the link still works
    expect(page.locator("#password-error")).to_contain_text("most common passwords")
    _choose_password(page, link, "ann chooses well")
    expect(page.locator("#done")).to_contain_text("Welcome, ann")
    page.goto(link)
    expect(page.locator("h1")).to_contain_text("no longer works")

    token = sign_in(site.base_url, "ann", "ann chooses well", _code_of(site, "ann@example.com"))
    me = requests.get(f"{site.base_url}/auth/me", headers=bearer(token), timeout=30)
    assert me.json()["username"] == "ann"


def test_forgot_password_mails_a_link_whose_new_password_signs_out_every_device(
    site: Site, page: Any
) -> None:
    from playwright.sync_api import expect

    add_user(site.app, "bea", "bea@example.com", "bea old password")
    old_token = sign_in(site.base_url, "bea", "bea old password", _code_of(site, "bea@example.com"))
    page.goto(f"{site.base_url}/admin/login")
    page.click("#forgot-password")
    page.fill("#name_or_email", "bea@example.com")
    page.click("form.card button[type=submit]")
    expect(page.locator("#reset-sent")).to_contain_text("If an account matches")

    link = wait_for_link(site.smtp, "bea@example.com", "password-reset")
    _choose_password(page, link, "bea new password")
    expect(page.locator("#done")).to_contain_text("signed out")
    assert requests.get(f"{site.base_url}/auth/me", headers=bearer(old_token), timeout=30).status_code == 401
    wait_until(lambda: any(subject == "Your Vinova password was changed"
                           for subject, _text in mails_to(site.smtp, "bea@example.com")), 10)
    refused = requests.post(f"{site.base_url}/auth/login",
                            json={"username": "bea", "password": "bea old password"}, timeout=30)
    assert refused.status_code == 401
    assert sign_in(site.base_url, "bea", "bea new password", _code_of(site, "bea@example.com"))


def test_the_cli_reset_link_gets_a_locked_out_admin_back_into_the_web_pages(site: Site, page: Any) -> None:
    from playwright.sync_api import expect

    port = site.base_url.rsplit(":", 1)[1]
    result = site.app.test_cli_runner().invoke(args=["reset-password", "root", "--port", port])
    assert result.exit_code == 0, result.output
    link = next(line for line in result.output.splitlines() if line.startswith("http"))
    _choose_password(page, link, "root found the shell")
    expect(page.locator("#done")).to_contain_text("Sign in again")
    _web_sign_in(page, site, "root", "root found the shell", "root@example.com")
    page.goto(f"{site.base_url}/admin/users")
    expect(page.locator("#person-root")).to_contain_text("Admin")
