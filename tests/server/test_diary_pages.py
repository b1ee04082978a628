"""The diary pages and report APIs through Flask: numbers, zones, CSV, screenshot links, deletion, access."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PIL import Image
from server_support import Server, ServerSetup, read_csv_rows

import time_manager
from contract.screenshots import object_key
from server.db import activity_data
from server.db.screenshot_data import deletion_log, find_screenshot

NOW = datetime(2026, 11, 20, 15, 0, 30, tzinfo=UTC)
PASSWORD = "diary password 1"


@pytest.fixture
def server_setup() -> ServerSetup:
    """An admin (root) and a user (ann), both signed in, at NOW."""
    return ServerSetup(users={"root": True, "ann": False}, signed_in=True, start=NOW, password=PASSWORD)


def sample(minute_start: datetime, state: str = "tracking", active: int = 30) -> dict[str, Any]:
    return {
        "minute_start": minute_start.isoformat(), "active_seconds": active if state == "tracking" else 0,
        "keys": 3 if state == "tracking" else 0, "clicks": 1 if state == "tracking" else 0, "scrolls": 0,
        "mouse_px": 0, "state": state, "timezone": "America/New_York", "utc_offset_minutes": -300,
    }


def post_activity(server: Server, body: dict[str, Any]) -> None:
    response = server.app.test_client().post("/activity", json=body, headers=server.headers("ann"))
    assert response.status_code == 200, response.get_json()


def upload_screenshot(server: Server, taken_at: datetime, *, blurred: bool = False) -> str:
    """The real local pipeline: sign, PUT the JPEG, register; returns the key."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), (40, 90, 160)).save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    digest = hashlib.sha256(jpeg).hexdigest()
    key = object_key("", "ann", taken_at, digest)
    client = server.app.test_client()
    signed = client.post(
        "/uploads/sign",
        json={"key": key, "content_type": "image/jpeg", "size_bytes": len(jpeg), "sha256": digest},
        headers=server.headers("ann"),
    )
    assert signed.status_code == 200, signed.get_json()
    body = signed.get_json()
    put = client.put(body["url"], data=jpeg, headers=body["headers"])
    assert put.status_code in (200, 201, 204), put.get_data(as_text=True)
    registered = client.post(
        "/screenshots",
        json={"key": key, "taken_at": taken_at.isoformat(), "timezone": "America/New_York",
              "blurred": blurred, "width": 64, "height": 36, "size_bytes": len(jpeg), "sha256": digest},
        headers=server.headers("ann"),
    )
    assert registered.status_code == 201, registered.get_json()
    return key


def test_team_today_shows_tracked_time_status_and_the_agents_backlog(server: Server) -> None:
    start = NOW.replace(second=0) - timedelta(minutes=20)
    post_activity(server, {
        "samples": [sample(start + timedelta(minutes=n), active=45) for n in range(20)],
        "agent": {"uploads_waiting": 4, "kept_aside": 1},
    })
    page = server.admin_browser("root").get("/admin/team")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    row = re.search(r'<tr data-username="ann">(.*?)</tr>', html, re.S)
    assert row is not None
    assert "0:20" in row.group(1) and "75 %" in row.group(1)
    assert "tracking" in row.group(1) and "4 waiting, 1 kept aside" in row.group(1)
    assert "each user&#39;s own zone" in html

    api = server.app.test_client().get("/api/reports/team", headers=server.headers("root"))
    users = {user["username"]: user for user in api.get_json()["users"]}
    assert users["ann"]["tracked_seconds"] == 1200 and users["ann"]["uploads_waiting"] == 4
    assert users["root"]["status"] == "never"


def test_a_bad_agent_backlog_refuses_the_whole_batch(server: Server) -> None:
    response = server.app.test_client().post(
        "/activity", json={"samples": [sample(NOW.replace(second=0) - timedelta(minutes=1))],
                           "agent": {"uploads_waiting": "many", "kept_aside": 0}},
        headers=server.headers("ann"),
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"] == {"agent.uploads_waiting": "must be a whole number"}
    with server.context.database.session() as session:
        assert activity_data.activity_between(session, None, NOW - timedelta(hours=1), NOW) == []


def test_the_diary_page_shows_slots_zone_thumbnails_and_a_link_that_expires(server: Server) -> None:
    nine_new_york = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)  # 09:00 EST
    tracked = [sample(nine_new_york + timedelta(minutes=n)) for n in range(10)]
    paused = [sample(nine_new_york + timedelta(minutes=10 + n), "paused") for n in range(10)]
    post_activity(server, {"samples": tracked + paused})
    upload_screenshot(server, nine_new_york + timedelta(minutes=3, seconds=7), blurred=True)
    browser = server.admin_browser("root")

    html = browser.get("/admin/diary/ann/2026-11-20").get_data(as_text=True)

    assert "Zone: <strong>America/New_York</strong>" in html and 'id="hours-in-day">24 hours' in html
    assert 'data-slot="2026-11-20T09:00:00-05:00" data-state="tracking"' in html
    assert 'data-slot="2026-11-20T09:10:00-05:00" data-state="paused"' in html
    assert 'data-slot="2026-11-20T09:20:00-05:00" data-state="gap"' in html
    assert "10 min tracking; 30 keys, 10 clicks" in html
    image_links = re.findall(r'href="(/admin/screenshots/\d+/image)"', html)
    thumbnails = re.findall(r'src="(/admin/screenshots/\d+/thumbnail)"', html)
    assert len(image_links) == 1 and len(thumbnails) == 1 and "blurred" in html

    redirect = browser.get(image_links[0])
    assert redirect.status_code == 302
    link = redirect.headers["Location"]
    assert "signature=" in link
    with server.app.test_client().get(link) as image:  # closes the sent file
        assert image.status_code == 200 and image.data[:2] == b"\xff\xd8"
    server.clock.advance(seconds=61)
    assert server.app.test_client().get(link).status_code == 403
    fresh = browser.get(image_links[0]).headers["Location"]
    with server.app.test_client().get(fresh) as image:
        assert image.status_code == 200


def test_the_diary_in_kolkata_moves_the_day_and_prints_the_zone(server: Server) -> None:
    evening = datetime(2026, 11, 19, 20, 0, tzinfo=UTC)  # 15:00 EST on the 19th, 01:30 IST on the 20th
    post_activity(server, {"samples": [sample(evening + timedelta(minutes=n)) for n in range(10)]})
    browser = server.admin_browser("root")
    html = browser.get("/admin/diary/ann/2026-11-20?tz=Asia/Kolkata").get_data(as_text=True)
    assert "Zone: <strong>Asia/Kolkata</strong>" in html
    assert 'data-slot="2026-11-20T01:30:00+05:30" data-state="tracking"' in html
    assert 'id="next-day" href="/admin/diary/ann/2026-11-21?tz=Asia/Kolkata"' in html
    picked = browser.get("/admin/diary/ann?date=2026-11-19&tz=Asia/Kolkata")
    assert picked.status_code == 302
    assert picked.headers["Location"].endswith("/admin/diary/ann/2026-11-19?tz=Asia/Kolkata")
    refused = browser.get("/admin/diary/ann/2026-11-20?tz=Mars/Olympus")
    assert refused.status_code == 400 and refused.get_json()["error"]["fields"]["tz"]


def test_the_report_page_and_csv_match_the_database(server: Server) -> None:
    start = datetime(2026, 11, 17, 14, 0, tzinfo=UTC)
    post_activity(server, {"samples": [sample(start + timedelta(minutes=n), active=60) for n in range(30)]
                           + [sample(start + timedelta(days=1, minutes=n)) for n in range(12)]})
    browser = server.admin_browser("root")
    html = browser.get("/admin/report").get_data(as_text=True)  # default: this week (Mon 16th .. Sun 22nd)
    assert "2026-11-16 \N{EN DASH} 2026-11-22" in html and "America/New_York" in html
    assert 'id="grand-total">0:42' in html

    csv_text = browser.get("/admin/report.csv?from=2026-11-16&to=2026-11-22").get_data(as_text=True)
    assert csv_text.startswith("# Vinova report 2026-11-16..2026-11-22; zone: each user's own zone")
    rows = read_csv_rows(csv_text)
    with server.context.database.session() as session:
        stored = activity_data.activity_between(
            session, None, start - timedelta(days=3), start + timedelta(days=5)
        )
    per_day: dict[str, int] = {}
    for record in (row.sample for row in stored):
        day = record.minute_start.astimezone(time_manager.resolve_zone("America/New_York")).date()
        per_day[day.isoformat()] = per_day.get(day.isoformat(), 0) + 60
    assert {row["date"]: int(row["tracked_seconds"]) for row in rows} == per_day == {
        "2026-11-17": 1800, "2026-11-18": 720,
    }

    kolkata = browser.get("/admin/report.csv?from=2026-11-16&to=2026-11-22&tz=Asia/Kolkata")
    assert kolkata.get_data(as_text=True).splitlines()[0].endswith("zone: Asia/Kolkata")
    days = browser.get(
        "/api/reports/days?from=2026-11-16&to=2026-11-22", headers=server.headers("root")
    ).get_json()
    ann = next(user for user in days["users"] if user["username"] == "ann")
    assert ann["total"]["tracked_seconds"] == 42 * 60


def test_deleting_a_screenshot_removes_object_and_record_and_is_audited(server: Server) -> None:
    taken = datetime(2026, 11, 20, 14, 5, tzinfo=UTC)
    key = upload_screenshot(server, taken)
    object_store = server.context.object_store
    assert object_store.object_size(key) is not None
    browser = server.admin_browser("root")
    html = browser.get("/admin/diary/ann/2026-11-20").get_data(as_text=True)
    screenshot_id = re.search(r'data-screenshot-id="(\d+)"', html)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert screenshot_id is not None and csrf is not None

    forged = browser.post(f"/admin/screenshots/{screenshot_id.group(1)}/delete", data={})
    assert forged.status_code == 400 and object_store.object_size(key) is not None

    deleted = browser.post(
        f"/admin/screenshots/{screenshot_id.group(1)}/delete",
        data={"csrf_token": csrf.group(1), "next": "/admin/diary/ann/2026-11-20"},
    )
    assert deleted.status_code == 302 and deleted.headers["Location"] == "/admin/diary/ann/2026-11-20"
    assert object_store.object_size(key) is None
    with server.context.database.session() as session:
        assert find_screenshot(session, int(screenshot_id.group(1))) is None
        [entry] = deletion_log(session)
        assert (entry.actor, entry.username, entry.key, entry.taken_at) == ("root", "ann", key, taken)
    assert "deleted by root" in browser.get("/admin/diary/ann/2026-11-20").get_data(as_text=True)
    assert key in browser.get("/admin/deletions").get_data(as_text=True)


PAGES = (
    "/admin/team", "/admin/diary/ann", "/admin/diary/ann/2026-11-20", "/admin/diary/ann/2026-11-20.csv",
    "/admin/report", "/admin/report.csv", "/admin/slots.csv?username=ann", "/admin/deletions",
    "/admin/screenshots/1/image", "/admin/screenshots/1/thumbnail",
)
APIS = ("/api/reports/team", "/api/reports/days", "/api/reports/diary?username=ann")


def test_a_non_admin_session_or_token_gets_403_everywhere(server: Server) -> None:
    upload_screenshot(server, datetime(2026, 11, 20, 14, 5, tzinfo=UTC))
    browser = server.app.test_client()
    with browser.session_transaction() as browser_session:
        browser_session["token"] = server.tokens["ann"]
        browser_session["csrf_token"] = "known"
    for path in PAGES:
        assert browser.get(path).status_code == 403, path
    assert browser.post("/admin/screenshots/1/delete", data={"csrf_token": "known"}).status_code == 403
    for path in APIS:
        response = server.app.test_client().get(path, headers=server.headers("ann"))
        assert response.status_code == 403, path
        assert response.get_json()["error"]["code"] == "forbidden"
    assert server.app.test_client().get("/api/reports/team").status_code == 401
    assert server.app.test_client().get("/admin/team").status_code == 302  # to the sign-in page
    admin = server.admin_browser("root")
    for path in PAGES:
        assert admin.get(path).status_code in (200, 302), path


def test_the_report_api_takes_the_zone_alias_as_well_as_tz(server: Server) -> None:
    for name in ("tz", "zone"):
        path = f"/api/reports/diary?username=ann&date=2026-11-20&{name}=Asia/Kolkata"
        response = server.app.test_client().get(path, headers=server.headers("root"))
        assert response.status_code == 200 and response.get_json()["zone"] == "Asia/Kolkata", name


# --------------------------------------------------------------------------- folding, future, states
def test_empty_hours_fold_into_one_line_and_slots_still_to_come_are_not_no_data(server: Server) -> None:
    nine_new_york = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)  # NOW is 10:00:30 in New York
    post_activity(server, {"samples": [sample(nine_new_york + timedelta(minutes=n)) for n in range(20)]})
    browser = server.admin_browser("root")

    html = browser.get("/admin/diary/ann/2026-11-20").get_data(as_text=True)

    folds = re.findall(r'data-fold="(\w+)">\s*<summary class="fold-line">([^<]+)<', html)
    assert folds == [
        ("gap", "No data 00:00\N{EN DASH}08:50"), ("future", "Still to come 11:00\N{EN DASH}23:50"),
    ]
    assert 'data-slot="2026-11-20T09:20:00-05:00" data-state="gap"' in html  # a past empty slot
    assert 'data-slot="2026-11-20T10:00:00-05:00" data-state="gap"' in html  # begun: no data yet
    assert 'data-slot="2026-11-20T10:10:00-05:00" data-state="future"' in html
    assert 'data-slot="2026-11-20T15:00:00-05:00" data-state="future"' in html
    assert 'id="toggle-hours"' in html and "22 empty hour(s) folded" in html
    assert '<script src="/static/diary.js" defer></script>' in html and "<script>" not in html

    earlier = browser.get("/admin/diary/ann/2026-11-18").get_data(as_text=True)
    assert '<summary class="fold-line">No data 00:00\N{EN DASH}23:50</summary>' in earlier
    assert 'id="day-tracked">—' in earlier and 'data-state="future"' not in earlier
    later = browser.get("/admin/diary/ann/2026-11-22").get_data(as_text=True)
    assert '<summary class="fold-line">Still to come 00:00\N{EN DASH}23:50</summary>' in later
    assert 'data-state="gap"' not in later


def test_captures_of_one_moment_are_grouped_by_monitor() -> None:
    from server.pages.diary_day_view import group_moments
    from server.reports.diary import ScreenshotItem

    def item(number: int, second: int, monitor: int) -> ScreenshotItem:
        moment = datetime(2026, 11, 20, 14, 0, second, tzinfo=UTC)
        return ScreenshotItem(number, f"k{number}", moment, moment, False, 1920, 1080, monitor)

    moments = group_moments((item(1, 5, 1), item(2, 5, 0), item(3, 40, 0), item(4, 5, 2)))
    assert [[shot.id for shot in moment] for moment in moments] == [[2, 1, 4], [3]]


def test_every_state_has_its_own_legend_entry_and_a_distinct_pattern(server: Server) -> None:
    from server.pages.diary_day_view import LEGEND

    browser = server.admin_browser("root")
    with browser.get("/static/admin.css") as answer:  # closes the sent file
        css = answer.get_data(as_text=True)
    backgrounds = {}
    for state, _label in LEGEND:
        rule = re.search(rf"\.state-{state} \{{ background: ([^;]+);", css)
        assert rule is not None, state
        backgrounds[state] = rule.group(1)
    assert len(set(backgrounds.values())) == len(LEGEND)  # no two states look alike
    patterned = [value for value in backgrounds.values() if "gradient" in value]
    assert len(patterned) >= len(LEGEND) - 2  # readable without colour: tracking solid, future blank
    for path in ("/admin/diary/ann/2026-11-20", "/admin/team"):
        html = browser.get(path).get_data(as_text=True)
        assert 'data-legend="idle_kept"' in html and "idle, counted as work" in html, path


def test_team_today_draws_a_timeline_bar_per_person(server: Server) -> None:
    nine_new_york = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    post_activity(server, {"samples": [sample(nine_new_york + timedelta(minutes=n)) for n in range(30)]
                           + [sample(nine_new_york + timedelta(minutes=30 + n), "idle") for n in range(20)]})
    html = server.admin_browser("root").get("/admin/team").get_data(as_text=True)
    row = re.search(r'<tr data-username="ann">(.*?)</tr>', html, re.S)
    assert row is not None
    segment = r'<span class="seg state-(\w+)" data-state="\w+" style="width: ([\d.]+)%" title="([^"]+)"'
    segments = re.findall(segment, row.group(1))
    assert [state for state, _, _ in segments] == ["gap", "tracking", "idle", "gap", "future"]
    assert abs(sum(float(width) for _, width, _ in segments) - 100) < 0.01
    assert segments[1][2] == "09:00\N{EN DASH}09:30 tracking (30 min)"
    assert 'aria-label="Today tracking 30 min, idle 20 min, no data' in row.group(1)
    root_row = re.search(r'<tr data-username="root">(.*?)</tr>', html, re.S)
    assert root_row is not None and '<td class="tracked" data-label="Tracked">—</td>' in root_row.group(1)


def test_the_report_draws_hours_per_day_and_a_dash_where_there_is_no_data(server: Server) -> None:
    start = datetime(2026, 11, 17, 14, 0, tzinfo=UTC)
    post_activity(server, {"samples": [sample(start + timedelta(minutes=n)) for n in range(90)]})
    html = server.admin_browser("root").get("/admin/report").get_data(as_text=True)
    assert "<script" not in html.split('id="hours-chart"')[1].split("</figure>")[0]
    days = re.findall(r'<g class="day" data-day="([\d-]+)" data-hours="([\d.]*)">', html)
    assert days[0] == ("2026-11-16", "") and days[1] == ("2026-11-17", "1.50") and len(days) == 7
    chart = html.split('id="hours-chart"')[1]
    assert chart.count('class="bar-rect"') == 1 and "2026-11-16 —" in chart and "2026-11-17 1:30" in chart
    footer = html.split("<tfoot>")[1]
    assert "<td>—</td>" in footer and "<td>1:30</td>" in footer
