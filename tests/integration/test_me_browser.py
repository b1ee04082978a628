"""A person's own record in headless Chromium: an employee signs in with the mailed code and lands on /me,
sees their own diary and screenshots (never a colleague's), deletes one inside the delete window and is
refused once the window has passed.

Set VINOVA_README_PICTURES=<folder> to also save screenshot-me.png (the README's picture of /me).
"""

from __future__ import annotations

import functools
import io
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import SmtpCapture
from diary_browser_support import browser, upload_jpeg
from PIL import Image, ImageDraw
from server_support import FakeClock, add_user, bearer, latest_code, make_app, sign_in, smtp_settings
from support import live_server

pytestmark = pytest.mark.integration
__all__ = ["browser"]  # the fixture

PASSWORD = "my record browser 1"
ZONE = "Europe/Berlin"
NOW = datetime(2026, 11, 20, 15, 0, 20, tzinfo=UTC)  # 16:00 in Berlin


def upload(base_url: str, username: str, token: str, taken_at: datetime, colour: tuple[int, int, int]) -> int:
    """Sign, PUT and register one capture over HTTP as the agent does; its screenshot id."""
    picture = Image.new("RGB", (960, 540), colour)
    ImageDraw.Draw(picture).rectangle((40, 40, 600, 120), fill=(250, 250, 250))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=80)
    answer = upload_jpeg(
        base_url, token, taken_at, buffer.getvalue(), (960, 540), username=username, zone=ZONE
    )
    screenshot_id: int = answer["id"]
    return screenshot_id


def post_hour(base_url: str, token: str, start: datetime) -> None:
    """An hour of work, the last ten minutes idle."""
    samples = [
        {"minute_start": (start + timedelta(minutes=n)).isoformat(), "active_seconds": 0 if n >= 50 else 35,
         "keys": 0 if n >= 50 else 6, "clicks": 0 if n >= 50 else 2, "scrolls": 0, "mouse_px": 120,
         "state": "idle" if n >= 50 else "tracking", "timezone": ZONE, "utc_offset_minutes": 60}
        for n in range(60)
    ]
    response = requests.post(
        f"{base_url}/activity", headers=bearer(token), timeout=30, json={"samples": samples}
    )
    assert response.status_code == 200 and response.json()["accepted"] == 60, response.text


def test_an_employee_sees_only_their_record_deletes_inside_the_window_and_is_refused_after_it(
    tmp_path: Path, smtp_server: SmtpCapture, browser: Any
) -> None:
    from playwright.sync_api import expect

    clock = FakeClock(NOW)
    database_url = f"sqlite:///{tmp_path / 'vinova.db'}"
    app = make_app(database_url, tmp_path, clock=clock, **smtp_settings(smtp_server))
    for name, admin in (("root", True), ("ann", False), ("bob", False)):
        add_user(app, name, f"{name}@example.com", PASSWORD, admin=admin)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15000)
    pictures = os.environ.get("VINOVA_README_PICTURES")
    try:
        with live_server(app) as base_url:
            tokens = {}
            for name in ("root", "ann", "bob"):
                read_code = functools.partial(latest_code, smtp_server, f"{name}@example.com")
                tokens[name] = sign_in(base_url, name, PASSWORD, read_code)
            requests.put(f"{base_url}/api/config", headers=bearer(tokens["root"]), timeout=30,
                         json={"employee_delete_window_minutes": 10}).raise_for_status()
            post_hour(base_url, tokens["ann"], datetime(2026, 11, 20, 13, 55, tzinfo=UTC))
            old = upload(base_url, "ann", tokens["ann"], NOW - timedelta(minutes=40), (40, 110, 190))
            fresh = upload(base_url, "ann", tokens["ann"], NOW - timedelta(minutes=3), (60, 150, 90))
            bobs = upload(base_url, "bob", tokens["bob"], NOW - timedelta(minutes=2), (200, 40, 40))

            # A person who is not an admin signs in on the same page and lands on their own record.
            page.goto(f"{base_url}/me")
            assert page.url.endswith("/admin/login")
            page.fill("#username", "ann")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            smtp_server.wait_for_message("ann@example.com", count=2)
            page.fill("#code", latest_code(smtp_server, "ann@example.com"))
            page.click("form.card button[type=submit]")
            page.wait_for_url(re.compile(r".*/me$"))
            expect(page.locator("h1")).to_contain_text("My diary")
            expect(page.locator("#policy")).to_contain_text(
                "You can delete a screenshot for 10 minutes after it is taken."
            )
            expect(page.locator("#policy")).to_contain_text("Screenshots are kept for 180 days")
            expect(page.locator("#zone-line")).to_contain_text(ZONE)
            shots = page.locator("figure.shot")
            expect(shots).to_have_count(2)
            ids = shots.evaluate_all("figures => figures.map(f => Number(f.dataset.screenshotId))")
            assert sorted(ids) == sorted([old, fresh]) and bobs not in ids
            page.wait_for_function(
                "() => [...document.querySelectorAll('figure.shot img')]"
                ".every(image => image.complete && image.naturalWidth > 0)"
            )
            slot = page.locator('[data-slot="2026-11-20T15:00:00+01:00"]')
            expect(slot).to_have_attribute("data-state", "tracking")
            if pictures:
                page.locator("section.hour").last.scroll_into_view_if_needed()
                page.screenshot(path=str(Path(pictures) / "screenshot-me.png"), full_page=False)

            # My screenshots: the fresh one has a Delete button, the old one is past its window.
            page.click("#nav-screenshots")
            expect(page.locator("h1")).to_contain_text("My screenshots")
            expect(page.locator("figure.shot")).to_have_count(2)
            expect(page.locator('figure.shot[data-deletable="true"]')).to_have_count(1)
            old_figure = page.locator(f'figure.shot[data-screenshot-id="{old}"]')
            expect(old_figure).to_contain_text("the delete window ended")
            expect(old_figure.locator("button")).to_have_count(0)
            page.locator(f'figure.shot[data-screenshot-id="{fresh}"] button').click()
            expect(page.locator(".notice")).to_contain_text("Screenshot deleted")
            expect(page.locator("figure.shot")).to_have_count(1)
            expect(page.locator("#deletions")).to_contain_text("Deleted by ann")
            gone = requests.get(
                f"{base_url}/api/me/screenshots?date=2026-11-20", headers=bearer(tokens["ann"]), timeout=30
            ).json()
            assert [shot["id"] for shot in gone["screenshots"]] == [old]

            # A capture whose window runs out while the page is open: the click is refused.
            late = upload(base_url, "ann", tokens["ann"], NOW - timedelta(minutes=1), (90, 90, 160))
            page.reload()
            expect(page.locator(f'figure.shot[data-screenshot-id="{late}"] button')).to_have_count(1)
            clock.advance(minutes=11)
            page.locator(f'figure.shot[data-screenshot-id="{late}"] button').click()
            expect(page.locator(".notice")).to_contain_text("Not deleted")
            expect(page.locator(".notice")).to_contain_text("older than the delete window")
            expect(page.locator(f'figure.shot[data-screenshot-id="{late}"]')).to_have_count(1)
            expect(page.locator(f'figure.shot[data-screenshot-id="{late}"] button')).to_have_count(0)

            # No way to a colleague: their image, thumbnail, diary and export are out of reach.
            for path in (f"/me/screenshots/{bobs}/image", f"/me/screenshots/{bobs}/thumbnail"):
                assert page.goto(f"{base_url}{path}").status == 404, path
            assert page.goto(f"{base_url}/admin/diary/bob").status == 403
            assert page.goto(f"{base_url}/admin/users/bob/export").status == 403
            page.goto(f"{base_url}/me/screenshots?date=2026-11-20")
            assert "bob/" not in page.content()
    finally:
        context.close()
