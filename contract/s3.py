"""The boto3 S3 client both the server's store and the agent's direct uploader build."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def make_s3_client(region: str | None, endpoint_url: str | None, *, max_connections: int = 10) -> Any:
    """A boto3 S3 client (SigV4, standard credential chain); path-style addressing for custom endpoints.

    botocore's own retries are off: the upload worker retries with backoff and counts attempts.
    """
    import boto3
    from botocore.config import Config

    s3_options: dict[str, Any] = {"addressing_style": "path"} if endpoint_url else {}
    config = Config(
        signature_version="s3v4",
        s3=s3_options,
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=max_connections,
    )
    return boto3.client("s3", region_name=region or None, endpoint_url=endpoint_url or None, config=config)
