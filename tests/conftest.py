"""Shared fixtures: the test server and the real parts (Xvfb, SMTP, SQLite/PostgreSQL, an S3 API)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from support import free_port, port_open, postgres_schema, wait_until

if TYPE_CHECKING:  # flask loads only for the tests that build a server
    from headless_support import AgentServer
    from server_support import Server, ServerSetup

POSTGRES_ENV = "VINOVA_TEST_DATABASE_URL"


# --------------------------------------------------------------------------- X server
@dataclass
class XDisplay:
    """A running Xvfb server; ``name`` is the DISPLAY value (e.g. ":42")."""

    name: str
    width: int
    height: int

    def env(self) -> dict[str, str]:
        """A copy of os.environ pointing DISPLAY at this server."""
        return {**os.environ, "DISPLAY": self.name}


@contextmanager
def running_xvfb(width: int = 1920, height: int = 1080) -> Iterator[XDisplay]:
    """Start an Xvfb with -noreset on a free display number, held open by one connection.

    Without -noreset Xvfb resets when its last client leaves and 1-3 % of new connections fail.
    """
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (make test installs it with apt)")
    number = next(n for n in range(90, 190) if not Path(f"/tmp/.X{n}-lock").exists())
    name = f":{number}"
    process = subprocess.Popen(
        ["Xvfb", name, "-screen", "0", f"{width}x{height}x24", "-noreset", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: subprocess.run(
                ["xdpyinfo", "-display", name], capture_output=True, check=False
            ).returncode == 0,
            timeout=15,
            message="Xvfb to accept connections",
        )
        from Xlib import display as xdisplay  # python-xlib comes with pynput

        holder = xdisplay.Display(name)
        try:
            yield XDisplay(name, width, height)
        finally:
            holder.close()
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def xvfb() -> Iterator[XDisplay]:
    """One Xvfb for the session; DISPLAY points at it while the session runs."""
    previous = os.environ.get("DISPLAY")
    try:
        with running_xvfb() as display:
            os.environ["DISPLAY"] = display.name
            yield display
    finally:
        if previous is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = previous


@pytest.fixture
def second_xvfb() -> Iterator[XDisplay]:
    """Another X display for the test (a second desktop); DISPLAY is left alone."""
    with running_xvfb() as display:
        yield display


# --------------------------------------------------------------------------- SMTP
@dataclass
class SmtpCapture:
    """An aiosmtpd server that keeps every message it receives."""

    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def messages_to(self, address: str) -> list[Message]:
        """Messages whose To header contains ``address``, oldest first."""
        with self.lock:
            return [m for m in self.messages if address.lower() in str(m.get("To", "")).lower()]

    def wait_for_message(self, address: str, count: int = 1, timeout: float = 10.0) -> Message:
        """Wait until ``count`` messages reached ``address``; return the newest."""
        wait_until(lambda: len(self.messages_to(address)) >= count, timeout, message=f"mail to {address}")
        return self.messages_to(address)[-1]


@contextmanager
def running_smtp() -> Iterator[SmtpCapture]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd) that records what it receives."""
    from aiosmtpd.controller import Controller

    capture = SmtpCapture("127.0.0.1", free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            message = message_from_bytes(envelope.original_content or envelope.content)
            with capture.lock:
                capture.messages.append(message)
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname=capture.host, port=capture.port)
    controller.start()
    try:
        yield capture
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpCapture]:
    """The SMTP server of one test (a module that needs one for longer uses :func:`running_smtp`)."""
    with running_smtp() as capture:
        yield capture


# --------------------------------------------------------------------------- databases
@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: SQLite in tmp_path, and PostgreSQL in its own schema when configured."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vinova.db'}"
        return
    base_url = os.environ.get(POSTGRES_ENV)
    if not base_url:
        pytest.skip(f"PostgreSQL variant skipped: set {POSTGRES_ENV} (.ci/run sets it)")
    with postgres_schema(base_url) as url:
        yield url


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema's URL, for tests that need PostgreSQL itself (skipped without it)."""
    base_url = os.environ.get(POSTGRES_ENV)
    if not base_url:
        pytest.skip(f"needs PostgreSQL: set {POSTGRES_ENV} (.ci/run sets it)")
    with postgres_schema(base_url) as url:
        yield url


# --------------------------------------------------------------------------- S3 API server
@dataclass
class S3Server:
    """A moto S3 server process; ``endpoint_url`` speaks the S3 API over HTTP."""

    endpoint_url: str
    port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Stop the server (an outage); its data is lost with the process."""
        self.process.terminate()
        self.process.wait(10)


def start_s3_server(port: int | None = None) -> S3Server:
    """Start moto's S3 server as a separate process and wait until it answers."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: port_open(port), timeout=30, message="moto server to listen")
    return S3Server(f"http://127.0.0.1:{port}", port, process)


@pytest.fixture
def s3_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """A real S3 API over HTTP with throwaway credentials in the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    server = start_s3_server()
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.stop()


# --------------------------------------------------------------------------- the server under test
@pytest.fixture
def server_setup() -> ServerSetup:
    """Which accounts, clock and settings the ``server`` fixture uses; override it in a test module."""
    from server_support import ServerSetup

    return ServerSetup()


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to the newest revision once per session, for copying."""
    from server.db.database import Database

    path = tmp_path_factory.mktemp("migrated") / "vinova.db"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    database.dispose()
    return path


@pytest.fixture
def server(
    database_url: str, tmp_path: Path, server_setup: ServerSetup, migrated_sqlite_file: Path
) -> Iterator[Server]:
    """The app of ``server_setup`` on each database, with a test client and a fake clock.

    On SQLite the database starts as a copy of one migrated file (the app's own migrate() then
    finds it current), which saves a migration run per test; the migrations themselves are
    tested from empty in tests/server/test_database.py.
    """
    from server_support import build_server

    sqlite_prefix = "sqlite:///"
    if database_url.startswith(sqlite_prefix):
        shutil.copyfile(migrated_sqlite_file, database_url.removeprefix(sqlite_prefix))
    built = build_server(database_url, tmp_path, server_setup)
    try:
        yield built
    finally:
        built.close()


# --------------------------------------------------------------------------- headless agents' server
@pytest.fixture
def agent_server(tmp_path: Path, smtp_server: SmtpCapture) -> Iterator[AgentServer]:
    """A live SQLite server with the user ann and a signed-in admin, for ``main.py --headless`` tests."""
    from headless_support import PASSWORD, AgentServer
    from server_support import add_user, latest_code, make_app, sign_in, smtp_settings
    from support import live_server

    app = make_app(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "server", **smtp_settings(smtp_server))
    add_user(app, "ann", "ann@example.com", PASSWORD)
    add_user(app, "boss", "boss@example.com", PASSWORD, admin=True)
    with live_server(app) as url:
        token = sign_in(url, "boss", PASSWORD, lambda: latest_code(smtp_server, "boss@example.com"))
        yield AgentServer(url, token, tmp_path)
