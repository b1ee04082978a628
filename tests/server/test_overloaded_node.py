"""An overloaded node drops the requests whose clients gave up, on waitress with the node's own settings.

Without it a node that fell behind (a burst, a pause) served every abandoned request late, its answers
going nowhere, and never caught up while the load stayed (bench/bench_load.py, BENCHMARKS.md).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
import waitress
from server_support import Server, ServerSetup, bearer
from sqlalchemy import func, select
from support import wait_until
from waitress.channel import HTTPChannel

from app import serve_options
from server.db.models import ActivitySample


@pytest.fixture
def server_setup() -> ServerSetup:
    return ServerSetup(users={"ann": False})


@pytest.fixture
def one_thread_node(server: Server) -> Iterator[tuple[Any, threading.Event, threading.Event]]:
    """The app under waitress with one thread and a route that holds it until released."""
    entered, release = threading.Event(), threading.Event()

    @server.app.route("/test-hold")
    def hold() -> str:
        entered.set()
        release.wait(30)
        return "held"

    options = {**serve_options(trusted_proxies=0), "threads": 1}
    node = waitress.create_server(server.app, host="127.0.0.1", port=0, **options)
    thread = threading.Thread(target=node.run, name="waitress", daemon=True)
    thread.start()
    try:
        yield node, entered, release
    finally:
        release.set()
        node.close()
        thread.join(10)


def minute_body(minute: str, device: str) -> dict[str, Any]:
    return {"device": {"id": device, "name": "pc"}, "samples": [
        {"minute_start": minute, "active_seconds": 30, "keys": 5, "clicks": 1, "scrolls": 0,
         "mouse_px": 10, "state": "tracking", "timezone": "UTC", "utc_offset_minutes": 0}]}


def raw_post(host: str, port: int, token: str, body: dict[str, Any]) -> bytes:
    """``POST /activity`` as bytes on the wire, for a client that sends and then hangs up."""
    data = json.dumps(body).encode()
    head = (f"POST /activity HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
    return head.encode() + data


def minutes_stored(server: Server) -> int:
    with server.context.database.session() as session:
        return int(session.scalar(select(func.count()).select_from(ActivitySample)) or 0)


def test_a_request_whose_client_gave_up_while_it_waited_is_dropped_and_the_next_is_served(
    server: Server, one_thread_node: tuple[Any, threading.Event, threading.Event]
) -> None:
    node, entered, release = one_thread_node
    token = server.sign_in("ann")
    host, port = "127.0.0.1", node.effective_port
    base = f"http://{host}:{port}"
    minute = server.clock().replace(second=0, microsecond=0) - timedelta(minutes=5)

    holder = threading.Thread(target=lambda: requests.get(f"{base}/test-hold", timeout=30))
    holder.start()
    assert entered.wait(10), "the only thread never took the holding request"
    # The client sends its minute, then gives up (its timeout) while the request waits for the thread.
    def waiting_channels() -> list[HTTPChannel]:
        return [channel for channel in list(node._map.values())
                if isinstance(channel, HTTPChannel) and channel.requests]

    holding = waiting_channels()
    assert len(holding) == 1
    with socket.create_connection((host, port), timeout=10) as gone:
        gone.sendall(raw_post(host, port, token, minute_body(minute.isoformat(), "a" * 32)))
        wait_until(lambda: len(waiting_channels()) == 2, 10, message="the minute read, waiting")
    # waitress keeps reading the waiting connection (channel_request_lookahead), sees it close, drops it.
    wait_until(lambda: waiting_channels() == holding, 10, message="the node saw the client leave")
    release.set()
    holder.join(30)

    # A client still waiting is served as before (the one thread takes requests in order, so by its
    # answer the abandoned request has had its turn).
    later = (minute + timedelta(minutes=1)).isoformat()
    answer = requests.post(f"{base}/activity", headers=bearer(token), timeout=30,
                           json=minute_body(later, "b" * 32))
    assert answer.status_code in (200, 201), answer.text
    assert minutes_stored(server) == 1, "only the minute of the client that waited is stored"
