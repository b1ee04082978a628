"""``GET /health`` for load balancers: ok on a working node, 503 naming the database or store that failed."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import boto3
from conftest import S3Server
from server_support import Server, make_app
from support import free_port

from server.context import EXTENSION_KEY, services_of
from server.db.database import Database
from server.stores.reachability import CachedCheck, local_folder_check

BUCKET = "vinova-health"


def health_of(client: Any) -> tuple[int, dict[str, Any]]:
    answer = client.get("/health")
    return answer.status_code, answer.get_json()


def test_a_working_node_answers_ok_for_database_and_local_storage_and_nothing_else(server: Server) -> None:
    answer = server.client.get("/health")  # no token
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok", "database": "ok", "storage": "ok"}
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in answer.headers


def test_an_unreachable_database_is_503_naming_the_database(server: Server) -> None:
    context = services_of(server.app)
    unreachable = Database(f"postgresql+psycopg://vinova@127.0.0.1:{free_port()}/vinova")
    server.app.extensions[EXTENSION_KEY] = dataclasses.replace(context, database=unreachable)
    try:
        status, body = health_of(server.client)
    finally:
        server.app.extensions[EXTENSION_KEY] = context
        unreachable.dispose()
    assert status == 503
    assert body["status"] == "unavailable"
    assert (body["database"], body["storage"]) == ("unreachable", "ok")
    assert body["error"]["code"] == "unavailable" and "database" in body["error"]["message"]
    assert "vinova@" not in str(body) and "127.0.0.1" not in str(body)  # no URL, no account name


def test_an_unwritable_screenshots_folder_is_503_naming_storage(server: Server) -> None:
    screenshots = server.data_dir / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    screenshots.rmdir()
    screenshots.write_bytes(b"a file where the folder should be")
    status, body = health_of(server.client)
    assert status == 503
    assert (body["database"], body["storage"]) == ("ok", "not_writable")


def s3_app(tmp_path: Path, s3_server: S3Server, name: str) -> Any:
    return make_app(f"sqlite:///{tmp_path / name / 'vinova.db'}", tmp_path / name, S3_BUCKET=BUCKET,
                    S3_ENDPOINT_URL=s3_server.endpoint_url, AWS_REGION="us-east-1")


def test_s3_reachable_is_ok_and_s3_down_is_503_naming_storage(tmp_path: Path, s3_server: S3Server) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    up = s3_app(tmp_path, s3_server, "up")
    assert health_of(up.test_client()) == (200, {"status": "ok", "database": "ok", "storage": "ok"})
    s3_server.stop()
    down = s3_app(tmp_path, s3_server, "down")  # a fresh node: nothing cached
    started = time.monotonic()
    status, body = health_of(down.test_client())
    assert time.monotonic() - started < 5  # the check's own short timeout, not the uploads' 60 s
    assert status == 503
    assert (body["database"], body["storage"]) == ("ok", "unreachable")
    assert "storage" in body["error"]["message"]
    assert s3_server.endpoint_url not in str(body)
    for app in (up, down):
        services_of(app).database.dispose()


def test_a_missing_bucket_is_503_storage_refused(tmp_path: Path, s3_server: S3Server) -> None:
    app = s3_app(tmp_path, s3_server, "nobucket")
    status, body = health_of(app.test_client())
    services_of(app).database.dispose()
    assert status == 503 and body["storage"] == "refused"


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_storage_answer_is_kept_for_its_ttl_then_checked_again(tmp_path: Path) -> None:
    calls: list[str] = []
    folder_check = local_folder_check(tmp_path / "screenshots")

    def counted() -> str:
        calls.append("check")
        return folder_check()

    clock = FakeMonotonic()
    cached = CachedCheck(counted, ttl_seconds=5.0, clock=clock)
    assert [cached() for _ in range(50)] == ["ok"] * 50
    assert len(calls) == 1  # fifty load-balancer checks, one look at the store
    (tmp_path / "screenshots").rmdir()
    (tmp_path / "screenshots").write_bytes(b"")
    clock.now += 4.9
    assert cached() == "ok" and len(calls) == 1
    clock.now += 0.1
    assert cached() == "not_writable" and len(calls) == 2
