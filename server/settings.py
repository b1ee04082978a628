"""The server's settings: defaults < ``.env`` < environment < ``create_app(overrides)``, parsed once."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from contract.errors import ConfigError
from contract.layering import layered_values
from time_manager import utc_now

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

DEFAULT_TOKEN_TTL_SECONDS = 7 * 24 * 3600
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
SECRET_KEY_FILE_NAME = "secret_key"  # noqa: S105 - a file name, not a secret

# Every variable the server reads, with its default ("" means unset).
DEFAULTS: dict[str, str] = {
    "VINOVA_ENV_FILE": ".env",
    "VINOVA_DATA_DIR": "./data",
    "VINOVA_DATABASE_URL": "",
    "VINOVA_SECRET_KEY": "",
    "VINOVA_TOKEN_TTL": str(DEFAULT_TOKEN_TTL_SECONDS),
    "VINOVA_TOKEN_IDLE_DAYS": "30",
    "VINOVA_WEB_IDLE_HOURS": "12",
    "VINOVA_MAX_BODY_BYTES": str(DEFAULT_MAX_BODY_BYTES),
    "VINOVA_LOG_LEVEL": "INFO",
    "VINOVA_ADMIN_EMAIL": "admin@localhost.localdomain",
    "VINOVA_TRUSTED_PROXIES": "0",
    "VINOVA_PUBLIC_URL": "",
    "SMTP_HOST": "",
    "SMTP_PORT": "587",
    "SMTP_USERNAME": "",
    "SMTP_PASSWORD": "",
    "SMTP_STARTTLS": "true",
    "SMTP_TIMEOUT": "15",
    "MAIL_FROM": "vinova@localhost",
    # Days a screenshot / an activity minute is kept before the daily purge removes it (0: forever).
    "VINOVA_SCREENSHOT_RETENTION_DAYS": "180",
    "VINOVA_ACTIVITY_RETENTION_DAYS": "730",
}

_TRUE_WORDS = {"1", "true", "yes", "on"}
_FALSE_WORDS = {"0", "false", "no", "off", ""}


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where mail goes; ``host`` None means the file outbox under the data dir."""

    host: str | None
    port: int
    username: str | None
    password: str | None = field(repr=False)
    starttls: bool
    timeout_seconds: float
    mail_from: str


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Everything the server needs to start, parsed and checked once."""

    data_dir: Path
    database_url: str
    secret_key: str = field(repr=False)  # "" until provision_secret_key() on start
    token_ttl_seconds: int
    max_body_bytes: int
    log_level: str
    smtp: SmtpSettings
    # How many reverse proxies in front of the server to believe X-Forwarded-For/-Proto from (0: none).
    trusted_proxies: int
    clock: Clock
    # The layered raw values (strings), so later parts can read their own variables.
    values: Mapping[str, str] = field(repr=False, compare=False)
    # Where mailed links point (VINOVA_PUBLIC_URL, no trailing slash); "" means the request's own address.
    public_url: str = ""
    # Days kept before the daily purge (server/retention.py) deletes them; 0 keeps them forever.
    screenshot_retention_days: int = 180
    activity_retention_days: int = 730

    @property
    def outbox_dir(self) -> Path:
        """Where mail is written as .eml files when no SMTP host is configured."""
        return self.data_dir / "outbox"

    def get(self, name: str, default: str = "") -> str:
        """A raw layered value by variable name ("" when unset and no default is given)."""
        value = self.values.get(name, "")
        return value if value != "" else default


def _layered_values(overrides: Mapping[str, Any]) -> dict[str, str]:
    """defaults < .env file < environment < overrides, all as strings."""
    env_file = str(overrides.get("VINOVA_ENV_FILE", os.environ.get("VINOVA_ENV_FILE", ".env")))
    explicit = {
        key: None if value is None else str(value) for key, value in overrides.items() if key != "clock"
    }
    return layered_values(DEFAULTS, [Path(env_file)] if env_file else [], os.environ, explicit)


def is_sqlite_url(database_url: str) -> bool:
    """Whether ``database_url`` is a SQLite database (one server process on one machine)."""
    return database_url.split(":", 1)[0].split("+", 1)[0].strip().lower() == "sqlite"


def _parse_int(values: Mapping[str, str], name: str, minimum: int, maximum: int) -> int:
    raw = values[name].strip()
    try:
        number = int(raw)
    except ValueError as exc:
        raise ConfigError({name: f"must be a whole number, got {raw!r}"}) from exc
    if not minimum <= number <= maximum:
        raise ConfigError({name: f"must be between {minimum} and {maximum}"})
    return number


def _parse_bool(values: Mapping[str, str], name: str) -> bool:
    raw = values[name].strip().lower()
    if raw in _TRUE_WORDS:
        return True
    if raw in _FALSE_WORDS:
        return False
    raise ConfigError({name: f"must be true or false, got {raw!r}"})


def provision_secret_key(settings: ServerSettings) -> ServerSettings:
    """The settings with a secret key: the configured one, else the one kept in the data folder.

    The server calls this once on start (loading settings never writes files); the first start
    without ``VINOVA_SECRET_KEY`` generates the key into ``<data dir>/secret_key``, mode 0600.
    Race-free for gunicorn workers starting together: the key is written whole to a temp file and
    published with a hard link, which fails when another worker published first; that one's key is read.
    """
    if settings.secret_key:
        return settings
    path = settings.data_dir / SECRET_KEY_FILE_NAME
    try:
        return replace(settings, secret_key=_read_secret_key(path))
    except FileNotFoundError:
        pass
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(draft, path)
    except FileExistsError:
        return replace(settings, secret_key=_read_secret_key(path))
    finally:
        draft.unlink(missing_ok=True)
    logger.info("generated a new secret key in %s", path)
    return replace(settings, secret_key=key)


def _read_secret_key(path: Path) -> str:
    """The key kept in ``path``; FileNotFoundError when there is none, ConfigError when it is unusable."""
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 16:
        message = f"{path} holds no usable key: delete it, or set the variable"
        raise ConfigError({"VINOVA_SECRET_KEY": message})
    return key


def _parse_public_url(values: Mapping[str, str]) -> str:
    """VINOVA_PUBLIC_URL without its trailing slash; ConfigError unless it is an http(s) address."""
    url = values.get("VINOVA_PUBLIC_URL", "").strip().rstrip("/")
    scheme, _, rest = url.partition("://")
    if url and (scheme.lower() not in {"http", "https"} or not rest or any(c in rest for c in "?# ")):
        message = "must be an http:// or https:// address, e.g. https://vinova.example.com"
        raise ConfigError({"VINOVA_PUBLIC_URL": message})
    return url


def session_idle_limits(settings: ServerSettings) -> tuple[timedelta, timedelta]:
    """How long a desktop token and a signed-in web session last after their last use (issue 11)."""
    days = _parse_int(settings.values, "VINOVA_TOKEN_IDLE_DAYS", 1, 366)
    hours = _parse_int(settings.values, "VINOVA_WEB_IDLE_HOURS", 1, 24 * 31)
    return timedelta(days=days), timedelta(hours=hours)


def load_settings(overrides: Mapping[str, Any] | None = None) -> ServerSettings:
    """Parse the layered settings; raise ConfigError naming the bad variable."""
    overrides = dict(overrides or {})
    values = _layered_values(overrides)
    clock = overrides.get("clock", utc_now)
    if not callable(clock):
        raise ConfigError({"clock": "must be a callable returning tz-aware UTC now"})
    data_dir_text = values["VINOVA_DATA_DIR"].strip()
    if not data_dir_text:
        raise ConfigError({"VINOVA_DATA_DIR": "must not be empty"})
    data_dir = Path(data_dir_text).expanduser().resolve()
    database_url = values["VINOVA_DATABASE_URL"].strip() or f"sqlite:///{data_dir / 'vinova.db'}"
    if "://" not in database_url:
        raise ConfigError({"VINOVA_DATABASE_URL": "must be a database URL such as postgresql+psycopg://..."})
    log_level = values["VINOVA_LOG_LEVEL"].strip().upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError({"VINOVA_LOG_LEVEL": "must be DEBUG, INFO, WARNING, ERROR or CRITICAL"})
    smtp_host = values["SMTP_HOST"].strip() or None
    mail_from = values["MAIL_FROM"].strip()
    if "@" not in mail_from:
        raise ConfigError({"MAIL_FROM": "must be an email address"})
    smtp = SmtpSettings(
        host=smtp_host,
        port=_parse_int(values, "SMTP_PORT", 1, 65535),
        username=values["SMTP_USERNAME"] or None,
        password=values["SMTP_PASSWORD"] or None,
        starttls=_parse_bool(values, "SMTP_STARTTLS"),
        timeout_seconds=float(_parse_int(values, "SMTP_TIMEOUT", 1, 300)),
        mail_from=mail_from,
    )
    token_ttl_seconds = _parse_int(values, "VINOVA_TOKEN_TTL", 60, 366 * 24 * 3600)
    max_body_bytes = _parse_int(values, "VINOVA_MAX_BODY_BYTES", 1024, 1024 * 1024 * 1024)
    secret_key = values["VINOVA_SECRET_KEY"].strip()
    if secret_key and len(secret_key) < 16:
        raise ConfigError({"VINOVA_SECRET_KEY": "must be at least 16 characters"})
    if not secret_key and not is_sqlite_url(database_url):
        # A generated key is one node's own: codes and cookies signed by one node would fail on the next.
        raise ConfigError({"VINOVA_SECRET_KEY": (
            "is required when VINOVA_DATABASE_URL is not SQLite: give every server node the same key "
            "of at least 16 characters, e.g. from: python -c \"import secrets; print(secrets.token_hex(32))\""
        )})
    return ServerSettings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key=secret_key,
        token_ttl_seconds=token_ttl_seconds,
        max_body_bytes=max_body_bytes,
        log_level=log_level,
        smtp=smtp,
        trusted_proxies=_parse_int(values, "VINOVA_TRUSTED_PROXIES", 0, 10),
        clock=clock,
        values=values,
        public_url=_parse_public_url(values),
        screenshot_retention_days=_parse_int(values, "VINOVA_SCREENSHOT_RETENTION_DAYS", 0, 36500),
        activity_retention_days=_parse_int(values, "VINOVA_ACTIVITY_RETENTION_DAYS", 0, 36500),
    )
