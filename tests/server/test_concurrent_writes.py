"""Concurrent writes to a live server, 50+ threads, SQLite and PostgreSQL: no 500, nothing lost (item 12)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from server_support import Server, ServerSetup, bearer
from sqlalchemy import func, select
from support import live_server

from server.db.models import ActivityRollup, ActivitySample, GlobalConfigValue, UserConfigOverride

THREADS = 50


@pytest.fixture
def server_setup() -> ServerSetup:
    """An admin (ann) and a user (bob), signed in; the real clock (the live server stamps minutes)."""
    return ServerSetup(users={"ann": True, "bob": False}, signed_in=True,
                       start=datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def base_url(server: Server) -> Iterator[str]:
    with live_server(server.app) as url:
        yield url


def run_together(calls: list[Callable[[], int]]) -> list[int]:
    """Run every call on its own thread, released at once; return the HTTP statuses."""
    barrier = threading.Barrier(len(calls))
    statuses: list[int] = []
    lock = threading.Lock()

    def worker(call: Callable[[], int]) -> None:
        barrier.wait(30)
        status = call()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return statuses


def test_150_concurrent_activity_posts_of_one_user_all_succeed_and_the_rollup_holds_every_minute(
    server: Server, base_url: str
) -> None:
    headers = bearer(server.tokens["bob"])
    first = server.clock().replace(second=0) - timedelta(minutes=60)
    devices = [{"id": f"{n:032x}", "name": f"pc {n}"} for n in range(3)]

    def post(index: int) -> Callable[[], int]:
        minute = first + timedelta(minutes=index % 50)  # 50 minutes over 4 buckets, 3 devices each
        body: dict[str, Any] = {
            "device": devices[index // 50],
            "samples": [{"minute_start": minute.isoformat(), "active_seconds": 10 + index // 50, "keys": 1,
                         "clicks": 0, "scrolls": 0, "mouse_px": 0, "state": "tracking", "timezone": "UTC",
                         "utc_offset_minutes": 0}],
        }
        url = f"{base_url}/activity"
        return lambda: requests.post(url, json=body, headers=headers, timeout=60).status_code

    statuses = run_together([post(index) for index in range(150)])

    assert sorted(set(statuses)) == [200]
    with server.context.database.session() as session:
        assert session.scalar(select(func.count(ActivitySample.id))) == 150
        rollup = session.execute(select(
            func.sum(ActivityRollup.sample_minutes), func.sum(ActivityRollup.active_seconds),
            func.sum(ActivityRollup.keys),
        )).one()
    # Per minute: the largest active seconds (device 2's 12), the keys of all three devices.
    assert tuple(int(value) for value in rollup) == (50, 50 * 12, 150)


def test_first_time_config_puts_racing_on_the_same_keys_never_answer_500(
    server: Server, base_url: str
) -> None:
    headers = bearer(server.tokens["ann"])

    def put(index: int) -> Callable[[], int]:
        if index % 2:
            path, body = "/api/users/bob/config", {"blur_screenshots": index % 4 == 1, "idle_threshold": 70}
        else:
            path, body = "/api/config", {"blur_screenshots": index % 4 == 0, "idle_threshold": 90}
        url = f"{base_url}{path}"
        return lambda: requests.put(url, json=body, headers=headers, timeout=60).status_code

    statuses = run_together([put(index) for index in range(THREADS + 2)])

    assert sorted(set(statuses)) == [200]
    with server.context.database.session() as session:
        stored = {row.key: row.value for row in session.scalars(select(GlobalConfigValue))}
        overrides = {row.key: row.value for row in session.scalars(select(UserConfigOverride))}
    assert stored["idle_threshold"] == 90 and overrides["idle_threshold"] == 70
    assert set(stored) == set(overrides) == {"blur_screenshots", "idle_threshold"}
