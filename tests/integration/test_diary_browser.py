"""The work diary in headless Chromium: emailed-code sign-in, Team today with its timeline bars, a diary
day with thumbnails uploaded through the real pipeline, empty hours folded and unfolded, the viewer driven
by clicks and keys, another day, the report's chart and CSV against the DB, and every page at 400 px.

Set VINOVA_README_PICTURES=<folder> to also save the README's pictures of the diary, Team today and
the Report there (screenshot-diary.png, screenshot-team.png, screenshot-report.png).
"""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import SmtpCapture
from desktop_pictures import desktop_jpeg
from diary_browser_support import (
    NEW_YORK,
    NO_HORIZONTAL_SCROLL,
    browser,
    sample,
    sign_in_admin,
    upload_jpeg,
)
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
from server.context import services_of
from server.db import activity_data

pytestmark = pytest.mark.integration

__all__ = ["browser"]  # the fixture
PASSWORD = "diary browser 1"
NOW = datetime(2026, 11, 20, 22, 0, 20, tzinfo=UTC)  # 17:00 in New York


def upload(
    base_url: str, token: str, taken_at: datetime, colour: tuple[int, int, int], blurred: bool
) -> None:
    """A small flat capture (320x180) with a white bar, through the agent's pipeline."""
    picture = Image.new("RGB", (320, 180), colour)
    ImageDraw.Draw(picture).rectangle((20, 20, 200, 60), fill=(250, 250, 250))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=80)
    upload_jpeg(base_url, token, taken_at, buffer.getvalue(), (320, 180), blurred=blurred)


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


def pictures_folder() -> Path | None:
    folder = os.environ.get("VINOVA_README_PICTURES")
    return Path(folder) if folder else None


def test_an_admin_reads_the_diary_uses_the_viewer_switches_day_and_exports_csv(
    tmp_path: Path, smtp_server: SmtpCapture, browser: Any
) -> None:
    from playwright.sync_api import expect

    clock = FakeClock(NOW)
    app = make_app(f"sqlite:///{tmp_path / 'vinova.db'}", tmp_path, clock=clock, **smtp_settings(smtp_server))
    add_user(app, "root", "root@example.com", PASSWORD, admin=True)
    add_user(app, "ann", "ann@example.com", PASSWORD)
    add_user(app, "bob", "bob@example.com", PASSWORD)
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15000)
    pictures = pictures_folder()
    try:
        with live_server(app) as base_url:
            token = sign_in(base_url, "ann", PASSWORD, lambda: latest_code(smtp_server, "ann@"))
            bob = sign_in(base_url, "bob", PASSWORD, lambda: latest_code(smtp_server, "bob@"))
            nine = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)  # 09:00 EST
            post_day(base_url, token, nine)
            post_day(base_url, token, nine - timedelta(days=1))
            post_day(base_url, bob, nine + timedelta(hours=3))
            requests.post(  # the agent is still running: a fresh minute now
                f"{base_url}/activity", headers=bearer(token), timeout=30,
                json={"samples": [sample(NOW.replace(second=0) - timedelta(minutes=1))]},
            ).raise_for_status()
            upload(base_url, token, nine + timedelta(minutes=4, seconds=12), (40, 110, 190), blurred=False)
            upload(base_url, token, nine + timedelta(minutes=47), (180, 90, 60), blurred=True)
            for minute in (5, 10, 15, 20, 25):  # real-looking captures for the README's picture
                jpeg = desktop_jpeg(minute)
                upload_jpeg(base_url, token, nine + timedelta(minutes=minute, seconds=30), jpeg, (1920, 1080))

            sign_in_admin(page, base_url, smtp_server, "root", PASSWORD)
            page.click("text=Team today")
            row = page.locator('tr[data-username="ann"]')
            expect(row.locator(".status")).to_have_text("tracking")
            expect(row.locator(".backlog")).to_contain_text("2 waiting")
            expect(page.locator("#zone-line")).to_contain_text("each user's own zone")
            states = row.locator(".timeline .seg").evaluate_all("spans => spans.map(s => s.dataset.state)")
            assert states[:3] == ["gap", "tracking", "idle"] and states[-1] == "future"
            assert {"paused", "suspended"} <= set(states)
            inner = row.locator(".timeline").evaluate("bar => bar.clientWidth")
            widths = row.locator(".timeline .seg").evaluate_all(
                "spans => spans.map(s => s.getBoundingClientRect().width)"
            )
            assert abs(sum(widths) - inner) <= 1  # the bar spans the whole day
            if pictures:
                page.screenshot(path=str(pictures / "screenshot-team.png"), full_page=False)

            row.locator("a").first.click()
            expect(page.locator("h1")).to_contain_text("2026-11-20")
            expect(page.locator("#zone-line")).to_contain_text(NEW_YORK)
            for local_start, state in (
                ("10:00", "idle"), ("10:40", "paused"), ("11:10", "suspended"), ("11:30", "gap"),
                ("09:00", "tracking"), ("17:10", "future"),
            ):
                slot = page.locator(f'[data-slot="2026-11-20T{local_start}:00-05:00"]')
                expect(slot).to_have_attribute("data-state", state)

            # Empty hours fold into one line; the toggle shows them all and folds them again.
            expect(page.locator("summary.fold-line").first).to_have_text("No data 00:00\N{EN DASH}08:50")
            midnight = page.locator('[data-slot="2026-11-20T00:00:00-05:00"]')
            expect(midnight).to_be_hidden()
            page.click("#toggle-hours")
            expect(midnight).to_be_visible()
            expect(page.locator("#toggle-hours")).to_have_text("Fold empty hours")
            page.click("#toggle-hours")
            expect(midnight).to_be_hidden()
            page.locator("summary.fold-line").first.click()  # one fold opens on its own
            expect(midnight).to_be_visible()
            page.locator("summary.fold-line").first.click()

            thumbnails = page.locator("figure.shot img")
            expect(thumbnails).to_have_count(7)
            page.wait_for_function(
                "() => [...document.querySelectorAll('figure.shot img')]"
                ".every(image => image.complete && image.naturalWidth > 0)"
            )
            sources = thumbnails.evaluate_all("images => images.map(i => new URL(i.currentSrc).pathname)")
            assert all(source.endswith("/thumbnail") for source in sources)
            assert thumbnails.nth(2).evaluate("image => image.naturalWidth") == 320  # a 1080p capture
            expect(page.locator("figure.shot.blurred")).to_have_count(1)
            nine_slot = page.locator('[data-slot="2026-11-20T09:00:00-05:00"]')
            expect(nine_slot.locator(".shots")).to_have_css("display", "grid")
            if pictures:
                page.locator("section.hour").first.scroll_into_view_if_needed()
                page.screenshot(path=str(pictures / "screenshot-diary.png"), full_page=False)

            # The viewer: a click opens the full image; arrows step (and wrap); Escape closes.
            viewer = page.locator("#viewer")
            expect(viewer).to_be_hidden()
            with page.expect_response(lambda answer: "/uploads/local/" in answer.url) as answer_info:
                page.locator("figure.shot a.thumb").first.click()
            expect(viewer).to_be_visible()
            expect(page.locator("#viewer-position")).to_have_text("1 / 7")
            expect(page.locator("#viewer-caption")).to_have_text("2026-11-20 09:04:12")
            full = answer_info.value  # the full image, through a short-lived signed link
            assert "/uploads/local/ann/2026/11/20/140412Z-" in full.url and "signature=" in full.url
            assert full.status == 200
            page.wait_for_function(
                "() => { const i = document.getElementById('viewer-image');"
                " return i.complete && i.naturalWidth === 320; }"
            )
            page.keyboard.press("ArrowRight")
            expect(page.locator("#viewer-position")).to_have_text("2 / 7")
            expect(page.locator("#viewer-caption")).to_have_text("2026-11-20 09:05:30")
            page.wait_for_function(
                "() => { const i = document.getElementById('viewer-image');"
                " return i.complete && i.naturalWidth === 1920; }"
            )
            page.keyboard.press("ArrowLeft")
            page.keyboard.press("ArrowLeft")
            expect(page.locator("#viewer-position")).to_have_text("7 / 7")
            expect(page.locator("#viewer-caption")).to_have_text("2026-11-20 09:47:00 · blurred")
            page.click("#viewer-next")
            expect(page.locator("#viewer-position")).to_have_text("1 / 7")
            page.keyboard.press("Escape")
            expect(viewer).to_be_hidden()
            expect(page.locator("figure.shot a.thumb").first).to_be_focused()

            page.click("#previous-day")
            expect(page.locator("h1")).to_contain_text("2026-11-19")
            expect(page.locator("#day-tracked")).to_have_text("2:15")
            expect(page.locator("figure.shot")).to_have_count(0)
            evening = page.locator('[data-slot="2026-11-19T17:10:00-05:00"]')
            expect(evening).to_have_attribute("data-state", "gap")  # past days have no "still to come"

            page.click("text=Report")
            expect(page.locator("#zone-line")).to_contain_text(NEW_YORK)
            expect(page.locator("#hours-chart g.day")).to_have_count(7)
            expect(page.locator("#hours-chart rect.bar-rect")).to_have_count(2)
            expect(page.locator('#hours-chart g.day[data-day="2026-11-16"] text.value')).to_have_text("—")
            if pictures:
                page.screenshot(path=str(pictures / "screenshot-report.png"), full_page=False)
            with page.expect_download() as download_info:
                page.click("#report-csv")
            csv_text = Path(download_info.value.path()).read_text()
            assert csv_text.startswith("# Vinova report 2026-11-16..2026-11-22; zone: each user's own zone")
            rows = {(row["username"], row["date"]): row for row in read_csv_rows(csv_text)}
            with services_of(app).database.session() as session:
                for day in ("2026-11-19", "2026-11-20"):
                    start, end = time_manager.local_day_bounds(datetime.fromisoformat(day).date(), NEW_YORK)
                    between = activity_data.activity_between(session, None, start, end)
                    stored = [row.sample for row in between if row.username == "ann"]
                    tracked = [record for record in stored if record.state == "tracking"]
                    assert int(rows[("ann", day)]["tracked_seconds"]) == 60 * len(tracked)
                    assert int(rows[("ann", day)]["active_seconds"]) == sum(r.active_seconds for r in tracked)
                    assert int(rows[("ann", day)]["idle_minutes"]) == 15
            assert {key[0] for key in rows} == {"ann", "bob"}

            # Every page works at 400 px: no horizontal scroll, the slots two abreast.
            page.set_viewport_size({"width": 400, "height": 900})
            narrow = {
                "team": "/admin/team", "diary": "/admin/diary/ann/2026-11-20", "report": "/admin/report",
            }
            for name, path in narrow.items():
                page.goto(f"{base_url}{path}")
                assert page.evaluate(NO_HORIZONTAL_SCROLL), path
                if pictures:
                    page.screenshot(path=str(pictures / f"screenshot-{name}-400px.png"), full_page=False)
            page.goto(f"{base_url}/admin/diary/ann/2026-11-20")
            columns = page.locator('[data-slot="2026-11-20T09:00:00-05:00"]').evaluate(
                "slot => getComputedStyle(slot.parentElement).gridTemplateColumns.split(' ').length"
            )
            assert columns == 2
    finally:
        context.close()
        services_of(app).database.dispose()
