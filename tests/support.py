"""Small helpers shared by the tests: bounded polling, free ports, a live WSGI server, Chromium."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from werkzeug.serving import make_server

T = TypeVar("T")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def wait_until(
    predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, message: str = ""
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message or predicate!r}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _read_whole(file: Any, block_size: int = 8192) -> list[bytes]:
    """A ``wsgi.file_wrapper`` that reads the file at once and closes it before anything is sent."""
    with file:
        return [file.read()]


def _files_closed_at_once(app: Any) -> Any:
    """``app`` with every file it sends (``send_file``, static files) read whole and closed at once.

    werkzeug's server drains the request after the response and closes the response afterwards, but when
    the browser has reset the connection (a page left while its script was loading) the draining raises
    and the close is skipped: the file then closes in the garbage collector with a ResourceWarning, which
    this suite treats as an error (seen once in CI, static/diary.js).
    """
    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        environ["wsgi.file_wrapper"] = _read_whole
        return app(environ, start_response)

    return wrapped


@contextmanager
def live_server(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve a WSGI ``app`` on 127.0.0.1 in a background thread; yields its base URL."""
    server = make_server("127.0.0.1", port or 0, _files_closed_at_once(app), threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-server", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@contextmanager
def postgres_schema(base_url: str, prefix: str = "t") -> Iterator[str]:
    """A fresh schema on the PostgreSQL server at ``base_url``, dropped afterwards; yields a URL using it."""
    import uuid

    import sqlalchemy

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(base_url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@contextmanager
def running_chromium() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright; the calling test is skipped when it is missing."""
    import pytest

    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is not installed (make test installs it with apt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def close_button(display_name: str, window: int) -> None:
    """What a window manager does for the close button: WM_DELETE_WINDOW through WM_PROTOCOLS."""
    from Xlib import X
    from Xlib import display as xdisplay
    from Xlib.protocol import event

    connection = xdisplay.Display(display_name)
    try:
        target = connection.create_resource_object("window", window)
        protocols = connection.intern_atom("WM_PROTOCOLS")
        delete = connection.intern_atom("WM_DELETE_WINDOW")
        message = event.ClientMessage(window=target, client_type=protocols, data=(32, [delete, X.CurrentTime,
                                                                                      0, 0, 0]))
        target.send_event(message, event_mask=X.NoEventMask)
        connection.sync()
    finally:
        connection.close()
