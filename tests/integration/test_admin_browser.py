"""The /admin pages in headless Chromium: sign in with the emailed code, edit the config, see errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import SmtpCapture
from server_support import add_user, bearer, latest_code, make_app, sign_in, smtp_settings
from support import live_server, running_chromium

from server.context import services_of

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "admin password 1"
USER_PASSWORD = "user password 1"


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """A fresh page in headless Chromium (skipped when /usr/bin/chromium is missing)."""
    with running_chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(15000)
        yield page


def test_an_admin_signs_in_with_the_emailed_code_and_edits_the_config(
    tmp_path: Path, smtp_server: SmtpCapture, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    app = make_app(f"sqlite:///{tmp_path / 'vinova.db'}", tmp_path, **smtp_settings(smtp_server))
    add_user(app, "root", "root@example.com", ADMIN_PASSWORD, admin=True)
    add_user(app, "ann", "ann@example.com", USER_PASSWORD)
    page = browser_page
    try:
        with live_server(app) as base_url:
            agent_token = sign_in(base_url, "ann", USER_PASSWORD, lambda: latest_code(smtp_server, "ann@"))
            before = requests.get(f"{base_url}/get-config", headers=bearer(agent_token), timeout=30)
            assert before.json()["screenshot_interval"] == 300

            # Step 1: password; the page asks for the code mailed to the account's address.
            page.goto(f"{base_url}/admin/")
            page.fill("#username", "root")
            page.fill("#password", ADMIN_PASSWORD)
            page.click("button[type=submit]")
            expect(page.locator("main")).to_contain_text("r***@example.com")
            smtp_server.wait_for_message("root@example.com")
            # A wrong code is refused on the page.
            page.fill("#code", "000000" if latest_code(smtp_server, "root@") != "000000" else "111111")
            page.click("form.card button[type=submit]")
            expect(page.locator("#verify-error")).to_contain_text("wrong code")
            page.fill("#code", latest_code(smtp_server, "root@example.com"))
            page.click("form.card button[type=submit]")
            expect(page.locator("h1")).to_contain_text("Global defaults")

            # Step 2: change screenshot_interval; the agent's /get-config follows with a new ETag.
            page.fill("#screenshot_interval", "120")
            page.click("form.config button[type=submit]")
            expect(page.locator(".notice")).to_contain_text("1 setting(s) changed")
            after = requests.get(
                f"{base_url}/get-config",
                headers={**bearer(agent_token), "If-None-Match": before.headers["ETag"]}, timeout=30,
            )
            assert after.status_code == 200
            assert after.json()["screenshot_interval"] == 120
            assert after.headers["ETag"] != before.headers["ETag"]

            # Step 3: an out-of-range value is shown beside the field and nothing changes.
            page.fill("#screenshot_interval", "5")
            page.click("form.config button[type=submit]")
            error = page.locator("#error-screenshot_interval")
            expect(error).to_contain_text("between 10 and 86400")
            assert page.locator("#screenshot_interval").input_value() == "5"
            unchanged = requests.get(f"{base_url}/get-config", headers=bearer(agent_token), timeout=30)
            assert unchanged.json()["screenshot_interval"] == 120

            # A per-user override and the audit log.
            page.goto(f"{base_url}/admin/users/ann")
            page.select_option("#blur_screenshots", "true")
            page.click("form.config button[type=submit]")
            expect(page.locator(".notice")).to_contain_text("1 override(s) changed")
            blurred = requests.get(f"{base_url}/get-config", headers=bearer(agent_token), timeout=30)
            assert blurred.json()["blur_screenshots"] is True
            page.goto(f"{base_url}/admin/audit")
            expect(page.locator("table.audit tbody tr")).to_have_count(2)
            expect(page.locator("table.audit")).to_contain_text("user:ann")
    finally:
        services_of(app).database.dispose()


def test_admin_forms_refuse_a_post_without_the_csrf_token(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'vinova.db'}", tmp_path)
    add_user(app, "root", "root@example.com", ADMIN_PASSWORD, admin=True)
    client = app.test_client()
    try:
        page = client.get("/admin/login").get_data(as_text=True)
        assert 'name="csrf_token"' in page
        forged = client.post("/admin/login", data={"username": "root", "password": ADMIN_PASSWORD})
        assert forged.status_code == 400 and forged.get_json()["error"]["code"] == "bad_request"
        assert not list(tmp_path.glob("outbox/*.eml"))  # no code was mailed
    finally:
        services_of(app).database.dispose()


def test_a_non_admin_signs_in_to_their_own_record_and_cannot_use_the_admin_pages(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'vinova.db'}", tmp_path)
    add_user(app, "ann", "ann@example.com", USER_PASSWORD)
    client = app.test_client()
    try:
        login_page = client.get("/admin/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login_page)
        assert csrf is not None
        token = {"csrf_token": csrf.group(1)}
        client.post("/admin/login", data={**token, "username": "ann", "password": USER_PASSWORD})
        signed_in = client.post("/admin/verify", data={**token, "code": latest_code(tmp_path, "ann@")})
        assert signed_in.status_code == 302 and signed_in.headers["Location"].endswith("/me")
        assert client.get("/me").status_code == 200
        assert client.get("/admin/").status_code == 403
        assert client.get("/admin/users").status_code == 403
    finally:
        services_of(app).database.dispose()


def test_a_page_framing_admin_gets_nothing_and_the_session_cookie_is_an_httponly_lax_id(
    tmp_path: Path, smtp_server: SmtpCapture, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    app = make_app(f"sqlite:///{tmp_path / 'vinova.db'}", tmp_path, **smtp_settings(smtp_server))
    add_user(app, "root", "root@example.com", ADMIN_PASSWORD, admin=True)
    page = browser_page
    try:
        with live_server(app) as base_url:
            page.goto(f"{base_url}/admin/login")
            page.fill("#username", "root")
            page.fill("#password", ADMIN_PASSWORD)
            page.click("button[type=submit]")
            smtp_server.wait_for_message("root@example.com")
            page.fill("#code", latest_code(smtp_server, "root@example.com"))
            page.click("form.card button[type=submit]")
            expect(page.locator("h1")).to_contain_text("Global defaults")
            cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
            session_cookie = cookies["vinova_admin"]
            assert session_cookie["httpOnly"] is True and session_cookie["sameSite"] == "Lax"
            assert session_cookie["secure"] is False  # plain HTTP here; Secure over HTTPS
            assert "." not in session_cookie["value"]  # an opaque id, not a signed payload

            # A page of another origin framing the signed-in admin page is given nothing to click.
            with live_server(_framing_app(f"{base_url}/admin/")) as evil_url:
                page.goto(evil_url)
                page.wait_for_load_state("load")
                frame = page.frames[-1]
                assert frame is not page.main_frame
                # Same site (ports do not count), so the Lax cookie would go along: only the headers stop it.
                assert frame.url.startswith("chrome-error://"), frame.url
                assert frame.locator("form.config").count() == 0
    finally:
        services_of(app).database.dispose()


def _framing_app(target: str) -> Any:
    """A one-page WSGI app that frames ``target`` (the clickjacking page)."""

    def serve(environ: Any, start_response: Any) -> list[bytes]:
        frame = f'<iframe src="{target}" width=800 height=600></iframe>'
        body = f"<!doctype html><title>win a prize</title>{frame}"
        start_response("200 OK", [("Content-Type", "text/html")])
        return [body.encode()]

    return serve
