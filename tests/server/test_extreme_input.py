"""Extreme dates, lone surrogates, mutated bodies on the record's endpoints: 400 naming the field."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from server_support import Server, ServerSetup

NOW = datetime(2026, 11, 25, 18, 0, 30, tzinfo=UTC)
EXTREMES = ("0001-01-01", "9999-12-31")


@pytest.fixture
def server_setup() -> ServerSetup:
    """An admin (ann) and a user (bob), signed in, at NOW."""
    return ServerSetup(users={"ann": True, "bob": False}, signed_in=True, start=NOW)


def sample(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "minute_start": (NOW.replace(second=0) - timedelta(minutes=1)).isoformat(), "active_seconds": 30,
        "keys": 3, "clicks": 1, "scrolls": 0, "mouse_px": 9, "state": "tracking", "timezone": "UTC",
        "utc_offset_minutes": 0,
    }
    values.update(changes)
    return values


def fields_of(response: Any) -> set[str]:
    return set(response.get_json()["error"].get("fields", {}))


@pytest.mark.parametrize("day", EXTREMES)
def test_extreme_dates_in_queries_answer_400_naming_the_parameter(server: Server, day: str) -> None:
    admin = server.headers("ann")
    checks = [
        # Past either end of what a datetime holds once in UTC.
        ("/api/activity", {"to": f"{day}T00:00:00+05:00" if day < "5" else f"{day}T23:00:00-05:00"}, {"to"}),
        ("/api/reports/days", {"from": day, "to": day}, {"from", "to"}),
        ("/api/reports/diary", {"username": "bob", "date": day}, {"date"}),
        ("/api/screenshots", {"username": "bob", "date": day}, {"date"}),
    ]
    for path, params, names in checks:
        response = server.client.get(path, headers=admin, query_string=params)
        assert response.status_code == 400, (path, params, response.status_code)
        assert fields_of(response) & names, (path, response.get_json())


@pytest.mark.parametrize("day", EXTREMES)
def test_extreme_diary_urls_answer_a_400_page(server: Server, day: str) -> None:
    browser = server.admin_browser("ann")
    assert browser.get(f"/admin/diary/bob/{day}").status_code == 400
    assert browser.get(f"/admin/diary/bob/{day}.csv").status_code == 400
    assert browser.get(f"/admin/report?from={day}&to={day}").status_code == 400
    assert browser.get(f"/admin/diary/bob?date={day}").status_code in (302, 400)


@pytest.mark.parametrize(
    ("minute", "field"),
    [(minute, "samples[0].minute_start") for minute in (
        "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:00-14:00", "0001-01-01T00:00:00+00:00",
        "9999-12-31T23:59:00+00:00",
    )],
)
def test_extreme_sample_minutes_are_refused_by_index(server: Server, minute: str, field: str) -> None:
    response = server.client.post("/activity", headers=server.headers("bob"),
                                  json={"samples": [sample(minute_start=minute), sample()]})
    assert response.status_code == 200
    assert response.get_json()["accepted"] == 1
    assert [item["field"] for item in response.get_json()["refused"]] == [field]


def test_lone_surrogates_are_refused_naming_the_field(server: Server) -> None:
    bob = server.headers("bob")
    refused = server.client.post("/activity", headers=bob, json={"samples": [sample(timezone="UTC\ud800")]})
    assert refused.get_json()["refused"][0]["field"] == "samples[0].timezone"
    device = server.client.post("/activity", headers=bob,
                                json={"device": {"id": "a" * 32, "name": "\ud800"}, "samples": []})
    assert device.status_code == 400 and fields_of(device) == {"device.name"}
    key = server.client.post("/uploads/sign", headers=bob, json={"key": "bob/\ud800", "size_bytes": 3,
                                                                 "content_type": "image/jpeg"})
    assert key.status_code == 400 and fields_of(key) == {"key"}
    registration = server.client.post("/screenshots", headers=bob, json={
        "key": "bob/2026/11/25/180000Z-0123456789abcdef.jpg", "taken_at": "0001-01-01T00:00:00+14:00"})
    assert registration.status_code == 400 and fields_of(registration) == {"taken_at"}


def test_a_key_with_a_trailing_newline_is_refused(server: Server) -> None:
    key = "bob/2026/11/25/180000Z-0123456789abcdef.jpg\n"
    body = {"key": key, "size_bytes": 3, "content_type": "image/jpeg"}
    response = server.client.post("/uploads/sign", headers=server.headers("bob"), json=body)
    assert response.status_code == 400 and fields_of(response) == {"key"}


def _mutations(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """``value`` with one random part replaced by something of the wrong kind or out of range."""
    odd: list[Any] = [None, True, -1, 2**63, 1.5, "", "\ud800", "9999-12-31T23:59:00-14:00", [], {},
                      "x" * 70, {"id": "a" * 32, "name": "n"}, [1, {}], "0001-01-01"]
    if isinstance(value, dict) and value and depth < 3:
        key = rng.choice([*value, "extra"])
        changed = dict(value)
        changed[key] = _mutations(rng, value.get(key), depth + 1) if rng.random() < 0.6 else rng.choice(odd)
        return changed
    if isinstance(value, list) and value and depth < 3:
        index = rng.randrange(len(value))
        return [*value[:index], _mutations(rng, value[index], depth + 1), *value[index + 1:]]
    return rng.choice(odd)


def test_a_thousand_mutated_record_bodies_never_answer_500(server: Server) -> None:
    rng = random.Random(13)
    activity = {"device": {"id": "a" * 32, "name": "desk"}, "samples": [sample(), sample(keys=4)],
                "agent": {"uploads_waiting": 1, "kept_aside": 0, "minutes_set_aside": 0, "input_ok": True,
                          "input_restarts": 0}}
    capture_key = "bob/2026/11/25/180000Z-0123456789abcdef.jpg"
    sign_body = {"key": capture_key, "content_type": "image/jpeg", "size_bytes": 10, "sha256": "01" * 32,
                 "device_id": "a" * 32}
    registration = {"key": capture_key, "taken_at": "2026-11-25T18:00:00+00:00", "timezone": "UTC",
                    "blurred": False, "width": 1, "height": 1, "size_bytes": 10, "sha256": "01" * 32}
    bob, ann = server.headers("bob"), server.headers("ann")
    statuses: list[int] = []
    for round_number in range(1100):
        choice = round_number % 5
        if choice < 2:
            response = server.client.post("/activity", headers=bob, json=_mutations(rng, activity))
        elif choice == 2:
            response = server.client.post("/uploads/sign", headers=bob, json=_mutations(rng, sign_body))
        elif choice == 3:
            response = server.client.post("/screenshots", headers=bob, json=_mutations(rng, registration))
        else:
            config = _mutations(rng, {"blur_screenshots": True, "idle_threshold": 120})
            response = server.client.put("/api/users/bob/config", headers=ann,
                                         data=json.dumps(config), content_type="application/json")
        statuses.append(response.status_code)
        assert response.status_code < 500, (choice, response.get_json())
    assert len(statuses) == 1100 and any(status == 400 for status in statuses)
