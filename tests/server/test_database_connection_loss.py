"""A PostgreSQL connection the database dropped: replaced before use when it idled, one 503 when it was busy.

A node pings a pooled connection only when it sat unused for a while (server/db/database.py), not on
every checkout; these tests kill the server side of the node's connections (``pg_terminate_backend``,
as a database restart or a firewall would) and check that nothing is lost and nothing is a 500.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from server_support import ServerSetup, build_server
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from support import wait_until

from server.db.database import Database
from server.db.models import ActivitySample

NOW = datetime(2026, 11, 25, 18, 0, 30, tzinfo=UTC)


@pytest.fixture
def postgres_url(postgres_schema_url: str) -> str:
    """A fresh schema on the test PostgreSQL, its connections named so that a test can find them."""
    return f"{postgres_schema_url}&application_name=vinova-loss-{uuid.uuid4().hex[:10]}"


def drop_connections(url: str) -> int:
    """End every server process of ``url``'s connections, as a database restart would; how many there were."""
    name = sqlalchemy.engine.make_url(url).query["application_name"]
    # Autocommit: within one transaction pg_stat_activity shows one snapshot, never the change.
    admin = sqlalchemy.create_engine(url.split("?")[0], isolation_level="AUTOCOMMIT")
    query = text("SELECT pid FROM pg_stat_activity WHERE application_name = :name")
    try:
        with admin.connect() as connection:
            pids = [row.pid for row in connection.execute(query, {"name": name})]
            for pid in pids:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

            def all_gone() -> bool:
                return not connection.execute(query, {"name": name}).first()

            wait_until(all_gone, 10, message="the terminated connections to end")
    finally:
        admin.dispose()
    return len(pids)


def backend_pid(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(text("SELECT pg_backend_pid()")) or 0)


def test_a_dropped_connection_that_idled_is_pinged_and_replaced_before_use(postgres_url: str) -> None:
    database = Database(postgres_url, ping_after_idle_seconds=0)
    try:
        first = backend_pid(database)
        assert drop_connections(postgres_url) == 1
        assert backend_pid(database) not in (0, first)
    finally:
        database.dispose()


def test_a_connection_in_steady_use_is_not_pinged_so_its_loss_fails_one_transaction(
    postgres_url: str,
) -> None:
    database = Database(postgres_url, ping_after_idle_seconds=3600)
    try:
        first = backend_pid(database)
        assert drop_connections(postgres_url) == 1
        with pytest.raises(OperationalError) as failure:
            backend_pid(database)
        assert failure.value.connection_invalidated
        assert backend_pid(database) not in (0, first)
    finally:
        database.dispose()


def test_eight_threads_at_once_keep_their_connections_open_between_requests(postgres_url: str) -> None:
    """A node's eight waitress threads reuse eight connections: none is closed on return and reopened."""
    database = Database(postgres_url)
    threads = 8
    barrier = threading.Barrier(threads)
    seen: set[int] = set()

    def work() -> None:
        for _ in range(10):
            barrier.wait(10)  # all eight hold a connection at the same moment
            with database.session() as session:
                seen.add(int(session.scalar(text("SELECT pg_backend_pid()")) or 0))
                barrier.wait(10)

    try:
        with ThreadPoolExecutor(threads) as pool:
            for future in [pool.submit(work) for _ in range(threads)]:
                future.result()
        assert len(seen) == threads, f"{len(seen)} connections opened for {threads} threads"
    finally:
        database.dispose()


def minute(minutes_ago: int) -> dict[str, Any]:
    start = NOW.replace(second=0) - timedelta(minutes=minutes_ago)
    return {"minute_start": start.isoformat(), "active_seconds": 42, "keys": 120, "clicks": 9, "scrolls": 3,
            "mouse_px": 5400, "state": "tracking", "timezone": "UTC", "utc_offset_minutes": 0}


def test_a_request_on_a_connection_lost_in_use_is_a_503_and_its_retry_stores_the_minute_once(
    postgres_url: str, tmp_path: Path
) -> None:
    setup = ServerSetup(users={"bob": False}, signed_in=True, start=NOW)
    server = build_server(postgres_url, tmp_path, setup)
    database = server.context.database
    assert database.idle_ping is not None
    database.idle_ping.idle_seconds = 3600  # however slow this machine is, the pool does not ping
    try:
        def post(body: dict[str, Any]) -> Any:
            return server.client.post("/activity", headers=server.headers("bob"), json=body)

        assert post({"samples": [minute(2)]}).status_code == 200
        assert drop_connections(postgres_url) >= 1
        lost = post({"samples": [minute(1)]})
        assert lost.status_code == 503, lost.get_data(as_text=True)
        assert lost.get_json()["error"]["code"] == "database_unavailable"
        assert lost.headers["Retry-After"] == "5"
        retried = post({"samples": [minute(1)]})
        assert retried.status_code == 200 and retried.get_json() == {"accepted": 1, "refused": []}
        with database.session() as session:
            assert session.scalar(select(func.count(ActivitySample.id))) == 2
    finally:
        server.close()
