"""What the routes share: the ServerContext that create_app builds, and how a route reaches it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from flask import Flask, current_app

from auth_manager import ServerAuth
from contract.s3 import make_s3_client
from server.db.config_data import EffectiveConfigCache
from server.db.database import Database
from server.mailer import FileOutbox, Mailer, SmtpMailer
from server.settings import ServerSettings
from server.stores.local import LocalObjectStore
from server.stores.objectstore import ObjectStore
from server.stores.reachability import CachedCheck, StorageCheck, local_folder_check, s3_bucket_check
from server.stores.s3 import S3ObjectStore

logger = logging.getLogger(__name__)

EXTENSION_KEY = "vinova"


@dataclass(frozen=True, slots=True)
class ServerContext:
    """What the routes need, built once by create_app and kept in ``app.extensions["vinova"]``."""

    settings: ServerSettings
    database: Database
    mailer: Mailer
    auth: ServerAuth
    object_store: ObjectStore
    # GET /health's look at the object store (cached a few seconds): "ok" or what failed.
    storage_check: StorageCheck
    # /get-config's effective configs by config version (server/db/config_data.py).
    config_cache: EffectiveConfigCache = field(default_factory=EffectiveConfigCache)

    def now(self) -> datetime:
        """The server's clock (tz-aware UTC; a fake one in tests)."""
        return self.settings.clock()


def build_mailer(settings: ServerSettings) -> Mailer:
    """SMTP when SMTP_HOST is set, else the file outbox under the data dir."""
    smtp = settings.smtp
    if smtp.host is None:
        return FileOutbox(settings.outbox_dir, smtp.mail_from)
    return SmtpMailer(
        smtp.host, smtp.port, smtp.mail_from, username=smtp.username, password=smtp.password,
        starttls=smtp.starttls, timeout_seconds=smtp.timeout_seconds,
    )


def make_object_store(environ_like: Mapping[str, str], data_dir: Path, secret_key: bytes) -> ObjectStore:
    """S3 when ``S3_BUCKET`` is set (``S3_PREFIX``, ``AWS_REGION``, ``S3_ENDPOINT_URL``), else local files.

    The local store lives under ``<data_dir>/screenshots/``. Logs which one at start.
    """
    prefix = environ_like.get("S3_PREFIX", "")
    bucket = environ_like.get("S3_BUCKET", "").strip()
    if bucket:
        endpoint_url = environ_like.get("S3_ENDPOINT_URL") or None
        region = environ_like.get("AWS_REGION") or environ_like.get("AWS_DEFAULT_REGION") or None
        client = make_s3_client(region, endpoint_url)
        logger.info(
            "screenshots go to S3 bucket %s (prefix %r, endpoint %s)", bucket, prefix, endpoint_url or "AWS"
        )
        return S3ObjectStore(client, bucket, prefix)
    root = data_dir / "screenshots"
    logger.info("screenshots are stored on this server under %s (no S3_BUCKET set)", root)
    return LocalObjectStore(root, secret_key, prefix)


def make_storage_check(environ_like: Mapping[str, str], data_dir: Path) -> StorageCheck:
    """The cheapest reachability check of the store :func:`make_object_store` picks, cached a few seconds."""
    bucket = environ_like.get("S3_BUCKET", "").strip()
    if bucket:
        endpoint_url = environ_like.get("S3_ENDPOINT_URL") or None
        region = environ_like.get("AWS_REGION") or environ_like.get("AWS_DEFAULT_REGION") or None
        return CachedCheck(s3_bucket_check(bucket, region, endpoint_url))
    return CachedCheck(local_folder_check(data_dir / "screenshots"))


def services_of(app: Flask) -> ServerContext:
    """The ServerContext of ``app`` (outside a request: the CLI, scripts/run.py, tests)."""
    context: ServerContext = app.extensions[EXTENSION_KEY]
    return context


def services() -> ServerContext:
    """The ServerContext of the app handling the current request or CLI command."""
    return services_of(current_app)
