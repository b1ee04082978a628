"""Page weight of a diary day with 100 captures, measured in Chromium: the images the page loads (the
thumbnails) must stay under 1 MB; the full JPEGs the page used to embed are measured alongside.

Prints ``diary weight: ...`` with both figures (BENCHMARKS.md, "Diary page weight").
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import SmtpCapture
from desktop_pictures import desktop_day
from diary_browser_support import browser, sample, sign_in_admin, upload_jpeg
from server_support import FakeClock, add_user, bearer, latest_code, make_app, sign_in, smtp_settings
from support import live_server

from server.context import services_of

pytestmark = pytest.mark.integration

__all__ = ["browser"]  # the fixture
PASSWORD = "diary weight 1"
NOW = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # 18:30 in New York, the working day over
CAPTURES = 100
MAX_IMAGE_BYTES = 1_000_000

ALL_IMAGES_LOADED = """() => [...document.querySelectorAll('img')].filter(i => i.id !== 'viewer-image')
  .every(image => image.complete && image.naturalWidth > 0)"""
FULL_IMAGES_BYTES = """async () => {
  const links = [...document.querySelectorAll('#diary-day a.thumb')].map(a => a.href);
  const sizes = await Promise.all(links.map(href => fetch(href).then(r => r.blob()).then(b => b.size)));
  return sizes.reduce((a, b) => a + b, 0);
}"""


def test_a_diary_day_of_100_captures_weighs_under_1_mb_of_images(
    tmp_path: Path, smtp_server: SmtpCapture, browser: Any
) -> None:
    app = make_app(
        f"sqlite:///{tmp_path / 'vinova.db'}", tmp_path, clock=FakeClock(NOW), **smtp_settings(smtp_server)
    )
    add_user(app, "root", "root@example.com", PASSWORD, admin=True)
    add_user(app, "ann", "ann@example.com", PASSWORD)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30000)
    image_bytes: list[int] = []

    def count(answer: Any) -> None:
        if answer.request.resource_type == "image" and answer.ok:
            image_bytes.append(len(answer.body()))

    try:
        with live_server(app) as base_url:
            token = sign_in(base_url, "ann", PASSWORD, lambda: latest_code(smtp_server, "ann@"))
            nine = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)  # 09:00 EST
            minutes = [sample(nine + timedelta(minutes=n)) for n in range(5 * CAPTURES)]
            requests.post(
                f"{base_url}/activity", headers=bearer(token), timeout=30, json={"samples": minutes},
            ).raise_for_status()
            captures = desktop_day(CAPTURES)  # 1080p, one every 5 minutes, 09:00-17:15
            uploaded = sum(len(jpeg) for jpeg in captures)
            with ThreadPoolExecutor(4) as pool:  # as several agents' uploads would arrive
                list(pool.map(
                    lambda number: upload_jpeg(
                        base_url, token, nine + timedelta(minutes=5 * number, seconds=7), captures[number],
                        (1920, 1080),
                    ),
                    range(CAPTURES),
                ))

            sign_in_admin(page, base_url, smtp_server, "root", PASSWORD)
            page.on("response", count)
            page.goto(f"{base_url}/admin/diary/ann/2026-11-20")
            assert page.locator("figure.shot img").count() == CAPTURES
            # Lazy images load as they scroll into view: ask for every one, as a reader scrolling down would.
            page.evaluate("() => document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; })")
            page.wait_for_function(ALL_IMAGES_LOADED)
            page.wait_for_function(f"() => performance.getEntriesByType('resource')"
                                   f".filter(e => e.initiatorType === 'img').length >= {CAPTURES}")
            page.remove_listener("response", count)
            full_bytes = page.evaluate(FULL_IMAGES_BYTES)
    finally:
        context.close()
        services_of(app).database.dispose()

    thumbnails = sum(image_bytes)
    print(
        f"diary weight: {len(image_bytes)} images, {thumbnails / 1e6:.2f} MB of thumbnails; "
        f"the full JPEGs: {full_bytes / 1e6:.1f} MB ({uploaded / 1e6:.1f} MB uploaded)"
    )
    assert len(image_bytes) == CAPTURES
    assert thumbnails < MAX_IMAGE_BYTES
    assert full_bytes == uploaded  # the viewer's links are the originals, byte for byte
    assert full_bytes > 20 * thumbnails
