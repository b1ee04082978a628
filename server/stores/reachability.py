"""Whether a store can be reached, as cheaply as it can tell: what ``GET /health`` asks of the object store.

* local files: the screenshots folder takes a new (unnamed, at once removed) file;
* S3: a ``HeadBucket`` through a client of its own with 2-second timeouts and no retries, so a
  store that is down answers the load balancer quickly instead of after the uploads' 60 s.

A check answers a word: ``"ok"``, or what failed (``"unreachable"``, ``"refused"``, ``"not_writable"``).
:class:`CachedCheck` keeps the answer a few seconds, so frequent load-balancer checks do not each reach S3.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

OK = "ok"
StorageCheck = Callable[[], str]
S3_CHECK_TIMEOUT_SECONDS = 2
CHECK_CACHE_SECONDS = 5.0


def local_folder_check(root_dir: Path) -> StorageCheck:
    """A check that the local store's folder exists (made 0700 when missing) and takes a new file."""

    def check() -> str:
        try:
            root_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=root_dir):
                pass
        except OSError as exc:
            logger.warning("health: the screenshots folder %s is not writable: %s", root_dir, exc)
            return "not_writable"
        return OK

    return check


def s3_bucket_check(bucket: str, region: str | None, endpoint_url: str | None) -> StorageCheck:
    """A check that ``HeadBucket`` on ``bucket`` succeeds within S3_CHECK_TIMEOUT_SECONDS."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"} if endpoint_url else {},
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=S3_CHECK_TIMEOUT_SECONDS,
        read_timeout=S3_CHECK_TIMEOUT_SECONDS,
        max_pool_connections=2,
    )
    client: Any = boto3.client("s3", region_name=region, endpoint_url=endpoint_url, config=config)

    def check() -> str:
        try:
            client.head_bucket(Bucket=bucket)
        except ClientError as exc:  # the store answered: no such bucket, or these credentials may not
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            logger.warning("health: S3 refused HeadBucket on %s (HTTP %s)", bucket, status)
            return "refused"
        except BotoCoreError as exc:  # no answer: connection refused, timeout, DNS
            logger.warning("health: S3 is unreachable: %s", type(exc).__name__)
            return "unreachable"
        return OK

    return check


class CachedCheck:
    """``check``'s answer, kept ``ttl_seconds`` (monotonic clock); one caller at a time runs the check."""

    def __init__(
        self, check: StorageCheck, ttl_seconds: float = CHECK_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._answer: str | None = None
        self._checked_at = 0.0

    def __call__(self) -> str:
        """The last answer while it is fresh, else a new one."""
        with self._lock:
            now = self._clock()
            if self._answer is None or now - self._checked_at >= self._ttl_seconds:
                self._answer = self._check()
                self._checked_at = self._clock()
            return self._answer
