"""Drain a spool of 500 captures of ~200 KB to a moto S3 server over HTTP; prints objects/s.

Both agent modes: direct (boto3 with bucket credentials) and server-signed (presigned PUTs).
Run: .venv/bin/python bench/bench_drain.py [--count 500] [--size-kb 200] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests

from agent.spool import CaptureRecord, CaptureStore
from agent.uploaders import DirectS3Uploader, PresignedUploader, Uploader
from agent.worker import UploadWorker
from contract.s3 import make_s3_client
from contract.screenshots import SignedUpload, object_key
from server.stores.s3 import S3ObjectStore
from server.stores.signing import sign_upload

START = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("moto did not start") from None
            time.sleep(0.1)
    return process, f"http://127.0.0.1:{port}"


def fill_spool(store: CaptureStore, count: int, size_bytes: int, seed: int) -> None:
    rng = random.Random(seed)
    for number in range(count):
        data = b"\xff\xd8" + rng.randbytes(size_bytes - 4) + b"\xff\xd9"
        sha256_hex = hashlib.sha256(data).hexdigest()
        taken_at = START + timedelta(seconds=number)
        store.add(
            key=object_key("bench/", "alice", taken_at, sha256_hex),
            taken_at=taken_at,
            timezone="UTC",
            blurred=False,
            width=1920,
            height=1080,
            data=data,
            sha256=sha256_hex,
        )


def drain(store: CaptureStore, uploader: Uploader, count: int, concurrency: int) -> float:
    worker = UploadWorker(
        store=store, uploader=uploader, register=lambda record: None, concurrency=concurrency
    )
    started = time.perf_counter()
    worker.start()
    while store.counts()["uploaded"] < count:
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    worker.stop()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--size-kb", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    arguments = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench-access-key")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench-secret-key")
    process, endpoint_url = start_moto()
    try:
        client = make_s3_client("us-east-1", endpoint_url, max_connections=arguments.concurrency + 2)
        client.create_bucket(Bucket="bench")
        s3_store = S3ObjectStore(client, "bench", "bench/")

        def sign(record: CaptureRecord) -> SignedUpload:
            return sign_upload(
                s3_store,
                username="alice",
                prefix="bench/",
                key=record.key,
                content_type="image/jpeg",
                size_bytes=record.size_bytes,
                now=datetime.now(UTC),
            )

        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=arguments.concurrency + 2)
        session.mount("http://", adapter)
        uploaders: dict[str, Uploader] = {
            "direct": DirectS3Uploader(client, "bench"),
            "server-signed": PresignedUploader(sign, session),
        }
        print(
            f"drain benchmark: {arguments.count} captures of {arguments.size_kb} KB,"
            f" {arguments.concurrency} upload threads, moto S3 server over HTTP"
        )
        for seed, (mode, uploader) in enumerate(uploaders.items()):
            with tempfile.TemporaryDirectory() as folder:
                store = CaptureStore(Path(folder) / "agent")
                fill_spool(store, arguments.count, arguments.size_kb * 1024, seed)
                elapsed = drain(store, uploader, arguments.count, arguments.concurrency)
                store.close()
            megabytes = arguments.count * arguments.size_kb / 1024
            print(
                f"{mode}: {arguments.count} objects in {elapsed:.2f} s ="
                f" {arguments.count / elapsed:.0f} objects/s ({megabytes / elapsed:.1f} MB/s)"
            )
    finally:
        process.terminate()
        process.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
