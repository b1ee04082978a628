"""POST /activity and GET /api/activity: per-sample refusal, clock skew, resends, who may read what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from server_support import Server, ServerSetup, bearer
from sqlalchemy import func, select

from server.db.models import ActivitySample

PASSWORD = "correct horse battery"
NOW = datetime(2026, 11, 25, 18, 0, 30, tzinfo=UTC)


@pytest.fixture
def server_setup() -> ServerSetup:
    """An admin (ann) and two users (bob, cy), all signed in, at NOW."""
    users = {"ann": True, "bob": False, "cy": False}
    return ServerSetup(users=users, signed_in=True, start=NOW, password=PASSWORD)


def post(server: Server, who: str, body: Any) -> Any:
    return server.client.post("/activity", headers=server.headers(who), json=body)


def read(server: Server, who: str, **params: str) -> Any:
    return server.client.get("/api/activity", headers=server.headers(who), query_string=params)


def row_count(server: Server) -> int:
    with server.context.database.session() as session:
        return int(session.scalar(select(func.count(ActivitySample.id))) or 0)


def sample(minutes_ago: int = 1, **changes: Any) -> dict[str, Any]:
    minute = NOW.replace(second=0) - timedelta(minutes=minutes_ago)
    values: dict[str, Any] = {
        "minute_start": minute.isoformat(), "active_seconds": 42, "keys": 120, "clicks": 9, "scrolls": 3,
        "mouse_px": 5400, "state": "tracking", "timezone": "Europe/Berlin", "utc_offset_minutes": 60,
    }
    values.update(changes)
    return values


def error_code(response: Any) -> str:
    return str(response.get_json()["error"]["code"])


def test_posted_samples_are_stored_and_read_back_in_minute_order(server: Server) -> None:
    response = post(server, "bob", {"samples": [sample(2), sample(1, keys=0, state="idle")]})
    assert response.status_code == 200 and response.get_json() == {"accepted": 2, "refused": []}
    samples = read(server, "bob").get_json()["samples"]
    assert [s["minute_start"] for s in samples] == [sample(2)["minute_start"], sample(1)["minute_start"]]
    default_device = {"id": "default", "name": "default device"}
    assert samples[1] == {**sample(1, keys=0, state="idle"), "username": "bob", "device": default_device}


def test_a_resent_minute_replaces_the_stored_one_and_never_adds(server: Server) -> None:
    assert post(server, "bob", {"samples": [sample(3, keys=10)]}).status_code == 200
    assert post(server, "bob", {"samples": [sample(3, keys=25, active_seconds=60)]}).status_code == 200
    assert post(server, "bob", {"samples": [sample(3, keys=25, active_seconds=60)] * 2}).status_code == 200
    assert row_count(server) == 1
    (stored,) = read(server, "bob").get_json()["samples"]
    assert stored["keys"] == 25 and stored["active_seconds"] == 60
    # The same minute of another user is a separate row.
    assert post(server, "cy", {"samples": [sample(3)]}).status_code == 200
    assert row_count(server) == 2


def test_a_minute_in_another_offset_is_stored_as_utc(server: Server) -> None:
    local = (NOW.replace(second=0) - timedelta(minutes=5)).astimezone(
        datetime.fromisoformat("2026-01-01T00:00:00+05:30").tzinfo
    )
    assert post(server, "bob", {"samples": [sample(minute_start=local.isoformat())]}).status_code == 200
    (stored,) = read(server, "bob").get_json()["samples"]
    assert stored["minute_start"] == (NOW.replace(second=0) - timedelta(minutes=5)).isoformat()


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"minute_start": (NOW.replace(second=0) + timedelta(minutes=6)).isoformat()}, "minute_start"),
        ({"minute_start": (NOW - timedelta(days=30, minutes=2)).replace(second=0).isoformat()},
         "minute_start"),
        ({"minute_start": NOW.replace(second=15).isoformat()}, "minute_start"),
        ({"minute_start": "2026-11-25T17:58:00"}, "minute_start"),
        ({"minute_start": "yesterday"}, "minute_start"),
        ({"keys": -1}, "keys"),
        ({"clicks": "9"}, "clicks"),
        ({"scrolls": 1.5}, "scrolls"),
        ({"mouse_px": True}, "mouse_px"),
        ({"active_seconds": 61}, "active_seconds"),
        ({"state": "asleep"}, "state"),
        ({"timezone": "Nowhere/City"}, "timezone"),
        ({"utc_offset_minutes": "60"}, "utc_offset_minutes"),
        ({"extra": 1}, "extra"),
    ],
)
def test_each_bad_sample_is_refused_by_index_naming_the_field_and_the_good_ones_are_stored(
    server: Server, bad: dict[str, Any], field: str
) -> None:
    response = post(server, "bob", {"samples": [sample(5), sample(1, **bad), sample(4)]})
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["accepted"] == 2
    (refused,) = answer["refused"]
    assert refused["index"] == 1 and refused["field"] == f"samples[1].{field}" and refused["message"]
    assert row_count(server) == 2


def test_a_minute_up_to_five_minutes_ahead_of_the_server_clock_is_accepted(server: Server) -> None:
    ahead = NOW.replace(second=0) + timedelta(minutes=5)
    response = post(server, "bob", {"samples": [sample(minute_start=ahead.isoformat())]})
    assert response.get_json() == {"accepted": 1, "refused": []}


def test_one_minute_older_than_thirty_days_no_longer_blocks_the_rest_of_the_batch(server: Server) -> None:
    stale = (NOW - timedelta(days=31)).replace(second=0)
    batch = [sample(minute_start=stale.isoformat()), *(sample(minutes) for minutes in range(1, 11))]
    answer = post(server, "bob", {"samples": batch}).get_json()
    assert answer["accepted"] == 10 and [item["index"] for item in answer["refused"]] == [0]
    assert row_count(server) == 10


def test_a_missing_field_is_named(server: Server) -> None:
    incomplete = sample(1)
    del incomplete["keys"]
    response = post(server, "bob", {"samples": [incomplete]})
    expected = [{"index": 0, "field": "samples[0].keys", "message": "is missing"}]
    assert response.get_json()["refused"] == expected


def test_a_minute_exactly_thirty_days_old_is_still_accepted(server: Server) -> None:
    edge = (NOW - timedelta(days=30)).replace(second=0) + timedelta(minutes=1)
    assert post(server, "bob", {"samples": [sample(minute_start=edge.isoformat())]}).status_code == 200


def test_batches_over_one_thousand_samples_are_refused(server: Server) -> None:
    batch = [sample(minutes_ago=index + 1) for index in range(1001)]
    response = post(server, "bob", {"samples": batch})
    assert response.status_code == 400 and "samples" in response.get_json()["error"]["fields"]
    assert row_count(server) == 0
    assert post(server, "bob", {"samples": batch[:1000]}).get_json() == {"accepted": 1000, "refused": []}
    assert row_count(server) == 1000


@pytest.mark.parametrize(
    ("body", "field"),
    [({"samples": "many"}, "samples"), ({}, "samples"), ({"samples": [], "extra": 1}, "extra"),
     ({"samples": [], "agent": []}, "agent"),
     ({"samples": [], "agent": {"input_ok": "yes"}}, "agent.input_ok"),
     ({"samples": [], "agent": {"kept_aside": -1}}, "agent.kept_aside")],
)
def test_bodies_of_the_wrong_shape_are_refused_as_a_whole(server: Server, body: Any, field: str) -> None:
    response = post(server, "bob", body)
    assert response.status_code == 400 and error_code(response) == "validation_error"
    assert field in response.get_json()["error"]["fields"]


def test_a_sample_that_is_not_an_object_is_refused_by_index(server: Server) -> None:
    answer = post(server, "bob", {"samples": [1, sample(1)]}).get_json()
    refused = [{"index": 0, "field": "samples[0]", "message": "must be an object"}]
    assert answer == {"accepted": 1, "refused": refused}


def test_posting_needs_a_valid_token(server: Server) -> None:
    response = server.client.post("/activity", json={"samples": [sample()]}, headers=bearer("forged"))
    assert response.status_code == 401 and error_code(response) == "unauthorized"


def test_admins_read_anyone_users_read_themselves_and_nobody_else(server: Server) -> None:
    post(server, "bob", {"samples": [sample(1)]})
    post(server, "cy", {"samples": [sample(2)]})
    everyone = read(server, "ann").get_json()["samples"]
    assert [s["username"] for s in everyone] == ["cy", "bob"]
    assert [s["username"] for s in read(server, "ann", username="cy").get_json()["samples"]] == ["cy"]
    assert [s["username"] for s in read(server, "bob").get_json()["samples"]] == ["bob"]
    assert [s["username"] for s in read(server, "bob", username="bob").get_json()["samples"]] == ["bob"]
    other = read(server, "bob", username="cy")
    assert other.status_code == 403 and error_code(other) == "forbidden"
    missing = read(server, "ann", username="nobody")
    assert missing.status_code == 404 and error_code(missing) == "not_found"


def test_the_default_window_is_the_last_24_hours_and_from_to_select_a_range(server: Server) -> None:
    post(server, "bob", {"samples": [sample(1), sample(60 * 24 + 5), sample(60 * 48)]})
    assert len(read(server, "bob").get_json()["samples"]) == 1
    wide = read(server, "bob", **{"from": (NOW - timedelta(days=3)).isoformat(), "to": NOW.isoformat()})
    assert len(wide.get_json()["samples"]) == 3
    zulu = read(server, "bob", **{"from": "2026-11-24T00:00:00Z", "to": "2026-11-24T18:00:00Z"})
    assert [s["minute_start"] for s in zulu.get_json()["samples"]] == [sample(60 * 24 + 5)["minute_start"]]


@pytest.mark.parametrize(
    "params",
    [{"from": "not-a-date"}, {"from": NOW.isoformat(), "to": (NOW - timedelta(hours=1)).isoformat()},
     {"from": (NOW - timedelta(days=40)).isoformat()}],
)
def test_bad_ranges_are_refused(server: Server, params: dict[str, str]) -> None:
    response = read(server, "ann", **params)
    assert response.status_code == 400 and error_code(response) == "validation_error"
