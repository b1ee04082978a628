"""An agent's capture + upload pipeline in its own process, steered over stdin, so a test can kill -9 it.

Commands, one per line: ``capture`` (take one capture; prints ``captured <key>``), ``status``
(prints ``status <queued> <uploaded> <kept_aside>``). End of input stops the worker and exits.
The screen is synthetic noise (distinct every time); real capture is tested on Xvfb elsewhere.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from PIL import Image

from agent.spool import CaptureStore
from agent.uploaders import DirectS3Uploader
from agent.worker import UploadWorker
from contract.s3 import make_s3_client
from screenshot_manager import ScreenshotManager


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agent-dir", type=Path, required=True)
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--backoff-initial-seconds", type=float, default=0.1)
    parser.add_argument("--backoff-max-seconds", type=float, default=0.5)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")

    rng = random.Random(os.getpid())
    store = CaptureStore(arguments.agent_dir)
    worker = UploadWorker(
        store=store,
        uploader=DirectS3Uploader(make_s3_client("us-east-1", arguments.endpoint_url), arguments.bucket),
        register=lambda record: None,
        backoff_initial_seconds=arguments.backoff_initial_seconds,
        backoff_max_seconds=arguments.backoff_max_seconds,
    )
    manager = ScreenshotManager(
        grab=lambda: Image.frombytes("RGB", (160, 100), rng.randbytes(160 * 100 * 3)),
        store=store,
        enqueue=worker.enqueue,
        username="alice",
        prefix="outage/",
        skip_reason=lambda: None,
        timezone_name=lambda: "UTC",
        spool_limit_bytes=10**9,
    )
    worker.start()
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "capture":
            record = manager.capture_now()
            print(f"captured {record.key if record else '-'}", flush=True)
        elif command == "status":
            counts = store.counts()
            print(f"status {counts['queued']} {counts['uploaded']} {counts['kept_aside']}", flush=True)
    worker.stop()
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
