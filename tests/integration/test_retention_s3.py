"""The retention purge against a real S3 API (moto server over HTTP) with a fake clock: expired images and
their thumbnails leave the bucket, recent ones stay; the export reads its images from the bucket too."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from me_support import browser_of, upload
from server_support import ServerSetup, build_server

from server.retention import purge
from server.stores.thumbnails import thumbnail_bytes, thumbnail_key

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)
BUCKET = "retained"


@pytest.fixture
def server_setup() -> ServerSetup:
    """ann and an admin, signed in at START; screenshots kept 30 days."""
    return ServerSetup(
        users={"root": True, "ann": False}, signed_in=True, start=START,
        overrides={"VINOVA_SCREENSHOT_RETENTION_DAYS": 30},
    )


def _keys(client: Any) -> set[str]:
    answer = client.list_objects_v2(Bucket=BUCKET)
    return {item["Key"] for item in answer.get("Contents", [])}


def test_the_purge_removes_expired_images_and_thumbnails_from_s3(
    s3_server: Any, tmp_path: Path, server_setup: ServerSetup
) -> None:
    client = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    settings = {"S3_BUCKET": BUCKET, "S3_PREFIX": "acme/", "S3_ENDPOINT_URL": s3_server.endpoint_url,
                "AWS_REGION": "us-east-1"}
    overrides = {**server_setup.overrides, **settings}
    setup = replace(server_setup, overrides=overrides)
    server = build_server(f"sqlite:///{tmp_path / 's3.db'}", tmp_path, setup)
    try:
        shots = {}
        for offset_days in (0, 10, 40):
            moment = START + timedelta(days=offset_days)
            server.clock.set(moment)
            server.tokens["ann"] = server.sign_in("ann")
            shots[offset_days] = upload(server, "ann", moment - timedelta(seconds=3))
        for shot in shots.values():  # the first view makes each thumbnail
            assert thumbnail_bytes(server.context.object_store, shot["key"]) is not None
        stored = _keys(client)
        for shot in shots.values():
            assert {shot["key"], thumbnail_key(shot["key"])} <= stored
            assert shot["key"].startswith("acme/ann/")

        now = START + timedelta(days=45)
        server.clock.set(now)
        dry = purge(server.context, now=now, dry_run=True)
        assert dry is not None and dry.screenshots == 2 and _keys(client) == stored
        counts = purge(server.context, now=now)
        assert counts is not None and counts.screenshots == 2
        left = _keys(client)
        assert left == {shots[40]["key"], thumbnail_key(shots[40]["key"])}

        response = browser_of(server, "ann").get("/me/export")
        archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
        response.close()
        images = [name for name in archive.namelist() if name.startswith("screenshots/")]
        assert images == [f"screenshots/{shots[40]['key']}"]
        original = client.get_object(Bucket=BUCKET, Key=shots[40]["key"])["Body"].read()
        assert archive.read(images[0]) == original
    finally:
        server.close()
