"""Shared parts of the diary's Chromium tests: the browser, the agent's upload over HTTP, the admin's sign-in.

Import ``browser`` into a test module to use it as a fixture.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests
from conftest import SmtpCapture
from server_support import bearer, latest_code
from support import running_chromium

import time_manager
from contract.screenshots import object_key

NEW_YORK = "America/New_York"
NO_HORIZONTAL_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium (skipped when /usr/bin/chromium is missing)."""
    with running_chromium() as instance:
        yield instance


def sample(minute_start: datetime, state: str = "tracking", active: int = 40) -> dict[str, Any]:
    """One minute of ``POST /activity`` in New York."""
    return {
        "minute_start": minute_start.isoformat(), "active_seconds": active if state == "tracking" else 0,
        "keys": 5 if state == "tracking" else 0, "clicks": 2 if state == "tracking" else 0, "scrolls": 0,
        "mouse_px": 100, "state": state, "timezone": NEW_YORK,
        "utc_offset_minutes": time_manager.utc_offset_minutes(minute_start, NEW_YORK),
    }


def upload_jpeg(
    base_url: str, token: str, taken_at: datetime, jpeg: bytes, size_px: tuple[int, int], *,
    blurred: bool = False, username: str = "ann", zone: str = NEW_YORK,
) -> dict[str, Any]:
    """Sign, PUT and register one JPEG over HTTP, as the agent's uploader does in local mode.

    Returns the registration's answer (``id``, ``key``, ``created``).
    """
    digest = hashlib.sha256(jpeg).hexdigest()
    key = object_key("", username, taken_at, digest)
    signed = requests.post(
        f"{base_url}/uploads/sign", headers=bearer(token), timeout=30,
        json={"key": key, "content_type": "image/jpeg", "size_bytes": len(jpeg), "sha256": digest},
    ).json()
    url = signed["url"] if signed["url"].startswith("http") else f"{base_url}{signed['url']}"
    assert requests.put(url, data=jpeg, headers=signed["headers"], timeout=30).ok
    registered = requests.post(
        f"{base_url}/screenshots", headers=bearer(token), timeout=30,
        json={"key": key, "taken_at": taken_at.isoformat(), "timezone": zone, "blurred": blurred,
              "width": size_px[0], "height": size_px[1], "size_bytes": len(jpeg), "sha256": digest},
    )
    assert registered.status_code == 201, registered.text
    answer: dict[str, Any] = registered.json()
    return answer


def sign_in_admin(page: Any, base_url: str, smtp_server: SmtpCapture, username: str, password: str) -> None:
    """Sign in on /admin with the password and the mailed code."""
    page.goto(f"{base_url}/admin/team")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    smtp_server.wait_for_message(f"{username}@example.com")
    page.fill("#code", latest_code(smtp_server, f"{username}@example.com"))
    page.click("form.card button[type=submit]")
    page.wait_for_selector("header.top nav")
