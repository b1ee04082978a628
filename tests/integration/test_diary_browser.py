"""The work diary in headless Chromium: emailed-code sign-in, Team today, a diary day with thumbnails
uploaded through the real pipeline, a click on a thumbnail, another day, the report CSV against the DB.

Set VINOVA_DIARY_SCREENSHOT=<path.png> to also save a picture of the diary page (docs/screenshot-diary.png).
"""

from __future__ import annotations

import hashlib
import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import SmtpCapture
from PIL import Image, ImageDraw
from server_support import (
    FakeClock,
    add_user,
    bearer,
    latest_code,
    make_app,
    read_csv_rows,
    sign_in,
    smtp_settings,
)
from support import live_server

import time_manager
from contract.screenshots import object_key
from server.context import services_of
from server.db import activity_data

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
PASSWORD = "diary browser 1"
NEW_YORK = "America/New_York"
NOW = datetime(2026, 11, 20, 22, 0, 20, tzinfo=UTC)  # 17:00 in New York


@pytest.fixture
def browser() -> Any:
    """Headless Chromium (skipped when /usr/bin/chromium is missing)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is not installed (make test installs it with apt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def sample(minute_start: datetime, state: str = "tracking", active: int = 40) -> dict[str, Any]:
    return {
        "minute_start": minute_start.isoformat(), "active_seconds": active if state == "tracking" else 0,
        "keys": 5 if state == "tracking" else 0, "clicks": 2 if state == "tracking" else 0, "scrolls": 0,
        "mouse_px": 100, "state": state, "timezone": NEW_YORK,
        "utc_offset_minutes": time_manager.utc_offset_minutes(minute_start, NEW_YORK),
    }


def upload(
    base_url: str, token: str, taken_at: datetime, colour: tuple[int, int, int], blurred: bool
) -> None:
    """Sign, PUT and register one JPEG over HTTP, as the agent's uploader does in local mode."""
    picture = Image.new("RGB", (320, 180), colour)
    ImageDraw.Draw(picture).rectangle((20, 20, 200, 60), fill=(250, 250, 250))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=80)
    jpeg = buffer.getvalue()
    digest = hashlib.sha256(jpeg).hexdigest()
    key = object_key("", "ann", taken_at, digest)
    signed = requests.post(
        f"{base_url}/uploads/sign", headers=bearer(token), timeout=30,
        json={"key": key, "content_type": "image/jpeg", "size_bytes": len(jpeg), "sha256": digest},
    ).json()
    url = signed["url"] if signed["url"].startswith("http") else f"{base_url}{signed['url']}"
    assert requests.put(url, data=jpeg, headers=signed["headers"], timeout=30).ok
    registered = requests.post(
        f"{base_url}/screenshots", headers=bearer(token), timeout=30,
        json={"key": key, "taken_at": taken_at.isoformat(), "timezone": NEW_YORK, "blurred": blurred,
              "width": 320, "height": 180, "size_bytes": len(jpeg), "sha256": digest},
    )
    assert registered.status_code == 201


def post_day(base_url: str, token: str, start: datetime) -> None:
    """A working morning: 3 hours with an idle stretch, a pause, a battery suspension and a gap."""
    samples = []
    for minute in range(180):
        moment = start + timedelta(minutes=minute)
        if 60 <= minute < 75:
            samples.append(sample(moment, "idle"))
        elif 100 <= minute < 110:
            samples.append(sample(moment, "paused"))
        elif 130 <= minute < 140:
            samples.append(sample(moment, "suspended"))
        elif 150 <= minute < 160:
            continue  # the agent was off: a gap
        else:
            samples.append(sample(moment, active=10 + (minute * 7) % 50))
    response = requests.post(
        f"{base_url}/activity", headers=bearer(token), timeout=30,
        json={"samples": samples, "agent": {"uploads_waiting": 2, "kept_aside": 0}},
    )
    assert response.status_code == 200, response.text


def test_an_admin_reads_the_diary_clicks_a_thumbnail_switches_day_and_exports_csv(
    tmp_path: Path, smtp_server: SmtpCapture, browser: Any
) -> None:
    from playwright.sync_api import expect

    clock = FakeClock(NOW)
    app = make_app(f"sqlite:///{tmp_path / 'vinova.db'}", tmp_path, clock=clock, **smtp_settings(smtp_server))
    add_user(app, "root", "root@example.com", PASSWORD, admin=True)
    add_user(app, "ann", "ann@example.com", PASSWORD)
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        with live_server(app) as base_url:
            token = sign_in(base_url, "ann", PASSWORD, lambda: latest_code(smtp_server, "ann@"))
            nine = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)  # 09:00 EST
            post_day(base_url, token, nine)
            post_day(base_url, token, nine - timedelta(days=1))
            requests.post(  # the agent is still running: a fresh minute now
                f"{base_url}/activity", headers=bearer(token), timeout=30,
                json={"samples": [sample(NOW.replace(second=0) - timedelta(minutes=1))]},
            ).raise_for_status()
            upload(base_url, token, nine + timedelta(minutes=4, seconds=12), (40, 110, 190), blurred=False)
            upload(base_url, token, nine + timedelta(minutes=47), (180, 90, 60), blurred=True)

            page.goto(f"{base_url}/admin/team")
            page.fill("#username", "root")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            smtp_server.wait_for_message("root@example.com")
            page.fill("#code", latest_code(smtp_server, "root@example.com"))
            page.click("form.card button[type=submit]")
            page.click("text=Team today")
            row = page.locator('tr[data-username="ann"]')
            expect(row.locator(".status")).to_have_text("tracking")
            expect(row.locator(".backlog")).to_contain_text("2 waiting")
            expect(page.locator("#zone-line")).to_contain_text("each user's own zone")

            row.locator("a").first.click()
            expect(page.locator("h1")).to_contain_text("2026-11-20")
            expect(page.locator("#zone-line")).to_contain_text(NEW_YORK)
            for local_start, state in (
                ("10:00", "idle"), ("10:40", "paused"), ("11:10", "suspended"), ("11:30", "gap"),
                ("09:00", "tracking"),
            ):
                slot = page.locator(f'td[data-slot="2026-11-20T{local_start}:00-05:00"]')
                expect(slot).to_have_attribute("data-state", state)
            thumbnails = page.locator("figure.shot img")
            expect(thumbnails).to_have_count(2)
            page.wait_for_function(
                "() => [...document.querySelectorAll('figure.shot img')]"
                ".every(image => image.complete && image.naturalWidth > 0)"
            )
            expect(page.locator("figure.shot.blurred")).to_have_count(1)
            if os.environ.get("VINOVA_DIARY_SCREENSHOT"):
                page.locator("table.diary tr.hour").nth(9).scroll_into_view_if_needed()
                page.screenshot(path=os.environ["VINOVA_DIARY_SCREENSHOT"], full_page=False)

            with context.expect_page() as opened:
                page.locator("figure.shot a.thumb").first.click()
            image_page = opened.value
            image_page.wait_for_load_state()
            assert "/uploads/local/ann/2026/11/20/140412Z-" in image_page.url
            assert "signature=" in image_page.url
            image_page.close()

            page.click("#previous-day")
            expect(page.locator("h1")).to_contain_text("2026-11-19")
            expect(page.locator("#day-tracked")).to_have_text("2:15")
            expect(page.locator("figure.shot")).to_have_count(0)

            page.click("text=Report")
            expect(page.locator("#zone-line")).to_contain_text(NEW_YORK)
            with page.expect_download() as download_info:
                page.click("#report-csv")
            csv_text = Path(download_info.value.path()).read_text()
            assert csv_text.startswith("# Vinova report 2026-11-16..2026-11-22; zone: each user's own zone")
            rows = {(row["username"], row["date"]): row for row in read_csv_rows(csv_text)}
            with services_of(app).database.session() as session:
                for day in ("2026-11-19", "2026-11-20"):
                    start, end = time_manager.local_day_bounds(datetime.fromisoformat(day).date(), NEW_YORK)
                    between = activity_data.activity_between(session, None, start, end)
                    stored = [row.sample for row in between]
                    tracked = [record for record in stored if record.state == "tracking"]
                    assert int(rows[("ann", day)]["tracked_seconds"]) == 60 * len(tracked)
                    assert int(rows[("ann", day)]["active_seconds"]) == sum(r.active_seconds for r in tracked)
                    assert int(rows[("ann", day)]["idle_minutes"]) == 15
            assert {key[0] for key in rows} == {"ann"}
    finally:
        context.close()
        services_of(app).database.dispose()
