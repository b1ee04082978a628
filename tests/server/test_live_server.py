"""The tests' live server (tests/support.py) closes every file it sends, even for a browser that resets the
connection while the server drains the request: otherwise the file closes in the garbage collector with a
ResourceWarning, an error in this suite (it failed a browser test once, on static/diary.js)."""

from __future__ import annotations

import gc
import socket
import struct
import threading
from pathlib import Path
from urllib.parse import urlsplit

from server_support import make_app
from support import live_server, wait_until

PROJECT = Path(__file__).resolve().parents[2]


def test_a_sent_file_is_closed_when_the_client_resets_the_connection_after_the_answer(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'vinova.db'}", tmp_path)
    size = (PROJECT / "static" / "diary.js").stat().st_size
    handlers_before = threading.active_count()
    with live_server(app) as base_url:
        address = urlsplit(base_url)
        with socket.create_connection((address.hostname, address.port), timeout=10) as client:
            # A body announced but not all sent: after the answer the server waits for the rest of it.
            client.sendall(b"GET /static/diary.js HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
                           + b"x" * 1000)
            answer = b""
            while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < size:
                chunk = client.recv(65536)
                assert chunk, answer[:200]
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = reset
        wait_until(lambda: threading.active_count() <= handlers_before + 1, 10,
                   message="the server's handler thread to end")
        gc.collect()  # an unclosed file would warn here, and pytest turns the warning into a failure
