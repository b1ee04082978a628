"""Uploads over real HTTP: moto's S3 server (direct and server-signed), the local store, a faulty proxy."""

from __future__ import annotations

import hashlib
import http.client
import itertools
import random
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask, request
from PIL import Image
from support import live_server, wait_until

from agent.spool import CaptureRecord, CaptureStore
from agent.uploaders import DirectS3Uploader, PresignedUploader
from agent.worker import UploadWorker
from contract.errors import RequestRefused
from contract.s3 import make_s3_client
from contract.screenshots import SignedUpload, object_key
from screenshot_manager import encode_jpeg
from server.stores.local import LocalObjectStore
from server.stores.s3 import S3ObjectStore
from server.stores.signing import sign_upload

pytestmark = pytest.mark.integration

BUCKET = "vinova-screenshots"
_SPOOLED: dict[str, bytes] = {}  # key -> the bytes spooled, to compare with the bucket
START = datetime(2026, 11, 25, 18, 0, 0, tzinfo=UTC)


def spool_captures(store: CaptureStore, count: int, prefix: str = "", seed: int = 0) -> list[CaptureRecord]:
    """``count`` distinct small JPEGs in the spool (noise, so each has its own key)."""
    rng = random.Random(seed)
    records = []
    for number in range(count):
        image = Image.frombytes("RGB", (64, 48), rng.randbytes(64 * 48 * 3))
        data = encode_jpeg(image, 70)
        sha256_hex = hashlib.sha256(data).hexdigest()
        taken_at = START + timedelta(seconds=number)
        record = store.add(
            key=object_key(prefix, "alice", taken_at, sha256_hex),
            taken_at=taken_at,
            timezone="UTC",
            blurred=False,
            width=64,
            height=48,
            data=data,
            sha256=sha256_hex,
        )
        assert record is not None
        _SPOOLED[record.key] = data
        records.append(record)
    return records


def bucket_contents(client: Any) -> dict[str, bytes]:
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {key: client.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}


def drain(worker: UploadWorker, store: CaptureStore, count: int, timeout: float = 60) -> None:
    worker.start()
    try:
        wait_until(lambda: store.counts()["uploaded"] == count, timeout=timeout, message=f"{count} uploads")
    finally:
        worker.stop()


@pytest.fixture
def s3_client(s3_server: Any) -> Any:
    client = make_s3_client("us-east-1", s3_server.endpoint_url)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CaptureStore]:
    capture_store = CaptureStore(tmp_path / "agent")
    yield capture_store
    capture_store.close()


def presigner(s3_store: S3ObjectStore) -> Callable[[CaptureRecord], SignedUpload]:
    """What the server does for ``POST /uploads/sign``, called directly."""

    def sign(record: CaptureRecord) -> SignedUpload:
        return sign_upload(
            s3_store,
            username="alice",
            prefix=s3_store.prefix,
            key=record.key,
            content_type="image/jpeg",
            size_bytes=record.size_bytes,
            sha256=record.sha256,
            now=datetime.now(UTC),
        )

    return sign


# --------------------------------------------------------------------------- the two S3 modes
def test_direct_mode_puts_every_capture_into_the_bucket_once(s3_client: Any, store: CaptureStore) -> None:
    records = spool_captures(store, 8)
    registered: list[str] = []
    worker = UploadWorker(
        store=store,
        uploader=DirectS3Uploader(s3_client, BUCKET),
        register=lambda record: registered.append(record.key),
    )
    drain(worker, store, 8)
    contents = bucket_contents(s3_client)
    assert contents == {record.key: _bytes(record) for record in records}
    head = s3_client.head_object(Bucket=BUCKET, Key=records[0].key)
    assert head["ContentType"] == "image/jpeg"
    assert sorted(registered) == sorted(contents)
    assert list(store.spool_dir.iterdir()) == []


def _bytes(record: CaptureRecord) -> bytes:
    """The JPEG bytes a record was spooled with (the spool file itself is gone after upload)."""
    return _SPOOLED[record.key]


def test_server_signed_mode_uploads_through_presigned_urls(s3_client: Any, store: CaptureStore) -> None:
    records = spool_captures(store, 6, prefix="shots/")
    s3_store = S3ObjectStore(s3_client, BUCKET, "shots/")
    worker = UploadWorker(
        store=store,
        uploader=PresignedUploader(presigner(s3_store), requests.Session()),
        register=lambda record: None,
    )
    drain(worker, store, 6)
    contents = bucket_contents(s3_client)
    assert contents == {record.key: _bytes(record) for record in records}
    # An admin's short-lived GET link serves the capture.
    link = s3_store.presign_get(records[0].key, now=datetime.now(UTC))
    answer = requests.get(link, timeout=10)
    assert answer.status_code == 200
    assert answer.content == _bytes(records[0])
    assert s3_store.object_size(records[0].key) == records[0].size_bytes
    assert s3_store.object_size("shots/alice/absent.jpg") is None


# --------------------------------------------------------------------------- server-local mode
def local_store_app(local_store: LocalObjectStore) -> Flask:
    """The two routes ``make run`` serves in local mode, as thin as app.py will have them."""
    app = Flask("local-store-under-test")

    @app.put("/uploads/local/<path:key>")
    def put_local(key: str) -> Any:
        try:
            local_store.receive_local_put(
                key,
                request.args,
                content_type=request.content_type,
                content_length=request.content_length,
                body=request.stream,
                now=datetime.now(UTC),
            )
        except RequestRefused as exc:
            return exc.to_json(), exc.status
        return "", 200

    @app.get("/uploads/local/<path:key>")
    def get_local(key: str) -> Any:
        try:
            path = local_store.verify_local_get(key, request.args, now=datetime.now(UTC))
        except RequestRefused as exc:
            return exc.to_json(), exc.status
        return path.read_bytes(), 200, {"Content-Type": "image/jpeg"}

    return app


def test_server_local_mode_stores_files_under_the_data_dir(tmp_path: Path, store: CaptureStore) -> None:
    local_store = LocalObjectStore(tmp_path / "server-data" / "screenshots", b"secret", "")
    records = spool_captures(store, 5)
    with live_server(local_store_app(local_store)) as base_url:

        def sign(record: CaptureRecord) -> SignedUpload:
            return sign_upload(
                local_store,
                username="alice",
                prefix="",
                key=record.key,
                content_type="image/jpeg",
                size_bytes=record.size_bytes,
                now=datetime.now(UTC),
                base_url=base_url,
            )

        worker = UploadWorker(
            store=store, uploader=PresignedUploader(sign, requests.Session()), register=lambda record: None
        )
        drain(worker, store, 5)
        for record in records:
            assert local_store.path_for(record.key).read_bytes() == _bytes(record)
        link = base_url + local_store.presign_get(records[0].key, now=datetime.now(UTC))
        assert requests.get(link, timeout=10).content == _bytes(records[0])
        # A tampered upload URL is refused by the server and the agent keeps the capture aside.
        (tampered,) = spool_captures(store, 1, seed=99)

        def bad_sign(record: CaptureRecord) -> SignedUpload:
            signed = sign(record)
            return SignedUpload(
                signed.url.replace("signature=", "signature=0"), signed.headers, signed.expires_at, "local"
            )

        worker = UploadWorker(
            store=store,
            uploader=PresignedUploader(bad_sign, requests.Session()),
            register=lambda record: None,
        )
        worker.start()
        try:
            wait_until(lambda: store.counts()["kept_aside"] == 1, message="the refused capture kept aside")
        finally:
            worker.stop()
    assert tampered.path.exists()
    assert local_store.object_size(tampered.key) is None


# --------------------------------------------------------------------------- faults
class FaultyProxy:
    """An HTTP proxy in front of S3 that fails every third request: 500, 503, or a dropped connection.

    The dropped connection happens after the request reached S3, so the object lands but the
    client never hears so: the retry must overwrite it, not duplicate it.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.counter = itertools.count(1)
        self.faults = itertools.cycle(["500", "503", "drop"])
        self.lock = threading.Lock()
        self.injected: dict[str, int] = {"500": 0, "503": 0, "drop": 0}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_one_request_body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def forward(self) -> None:
                body = self.handle_one_request_body()
                with proxy.lock:
                    number = next(proxy.counter)
                    fault = next(proxy.faults) if number % 3 == 0 else None
                    if fault:
                        proxy.injected[fault] += 1
                if fault in ("500", "503"):
                    payload = f"<Error><Code>Injected{fault}</Code></Error>".encode()
                    self.send_response(int(fault))
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(payload)
                    self.close_connection = True
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in {"connection", "expect", "keep-alive"}
                }
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                payload = answer.read()
                upstream.close()
                if fault == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in {"connection", "transfer-encoding", "content-length"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="faulty-proxy", daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def faulty_proxy(s3_server: Any) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy(urlsplit(s3_server.endpoint_url).port or 80)
    yield proxy
    proxy.close()


@pytest.mark.parametrize("mode", ["direct", "server-signed"])
def test_everything_is_delivered_through_a_proxy_failing_a_third_of_requests(
    mode: str, s3_client: Any, store: CaptureStore, faulty_proxy: FaultyProxy
) -> None:
    records = spool_captures(store, 24)
    proxied_client = make_s3_client("us-east-1", faulty_proxy.url)
    uploader: Any
    if mode == "direct":
        uploader = DirectS3Uploader(proxied_client, BUCKET)
    else:
        uploader = PresignedUploader(presigner(S3ObjectStore(proxied_client, BUCKET, "")), requests.Session())
    worker = UploadWorker(
        store=store,
        uploader=uploader,
        register=lambda record: None,
        concurrency=4,
        backoff_initial_seconds=0.05,
        backoff_max_seconds=0.4,
    )
    drain(worker, store, 24)
    assert all(count > 0 for count in faulty_proxy.injected.values()), faulty_proxy.injected
    contents = bucket_contents(s3_client)
    assert contents == {record.key: _bytes(record) for record in records}
    assert store.counts() == {"queued": 0, "uploaded": 24, "kept_aside": 0}
    assert list(store.spool_dir.iterdir()) == []
