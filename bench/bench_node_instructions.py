"""Machine instructions a running node spends per request over HTTP: the app plus waitress.

bench_instructions.py counts the app through Flask's test client; a loaded node also parses HTTP,
hands each request from waitress's loop to a worker thread and back, and walks its open connections
on every turn of the loop. This bench starts ``python app.py`` under valgrind's cachegrind (counting
only, about 10 times slower than native), sends bench_requests' agent-minutes over one kept HTTP
connection, stops the node with SIGINT and reads its ``I refs``; two runs (``1`` and ``1 + --rounds``
agent-minutes, fresh databases) are differenced, so start-up and seeding cancel out.
``--idle-connections N`` keeps N more connections open and silent, as HAProxy's pool of server
connections is between requests (docs/deploy/haproxy.cfg allows 8 a node; the bench's 64 cost 25 %).

Valgrind runs one thread at a time: what a busy node loses to threads waiting on each other is not in
this count, nor is the kernel's work.

    .venv/bin/python bench/bench_node_instructions.py
    .venv/bin/python bench/bench_node_instructions.py --idle-connections 64
    .venv/bin/python bench/bench_node_instructions.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

PROJECT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT), str(PROJECT / "tests"), str(Path(__file__).resolve().parent)]

from bench_instructions import cachegrind, counted, per_request
from bench_load import SECRET_KEY, seed_users
from bench_requests import Round
from support import free_port, port_open, postgres_schema, wait_until

START_TIMEOUT_S = 240  # the app's imports under valgrind


class HttpAnswer:
    """What bench_requests' Round reads of an answer, from a requests.Response."""

    def __init__(self, response: requests.Response) -> None:
        self.status_code = response.status_code
        self.headers = response.headers
        self._response = response

    def get_json(self) -> Any:
        return self._response.json()

    def get_data(self) -> bytes:
        return self._response.content


class HttpClient:
    """Round's client (Flask's test-client ``open``) over one kept connection to a node (or, with
    ``close``, a new connection for each request)."""

    def __init__(self, base_url: str, close: bool = False) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.extra_headers = {"Connection": "close"} if close else {}

    def open(self, path: str, method: str, headers: dict[str, str] | None = None, json: Any = None,
             data: bytes | None = None) -> HttpAnswer:
        sent = {**(headers or {}), **self.extra_headers}
        return HttpAnswer(self.session.request(method, self.base_url + path, headers=sent, json=json,
                                               data=data, timeout=120))


def node_instructions(users: int, rounds: int, postgres: str | None, idle_connections: int,
                      close: bool = False) -> int:
    """The instructions a node executes from start to SIGINT, serving ``1 + rounds`` agent-minutes."""
    command = cachegrind([sys.executable, "app.py", "--port", "PORT"])
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vinova-bench-node-")))
        database_url = (stack.enter_context(postgres_schema(postgres, "bench")) if postgres
                        else f"sqlite:///{folder}/vinova.db")
        users_and_tokens = seed_users(database_url, users)
        port = free_port()
        environment = {**os.environ, "PYTHONHASHSEED": "0", "VINOVA_ENV_FILE": "",
                       "VINOVA_LOG_LEVEL": "WARNING", "VINOVA_SECRET_KEY": SECRET_KEY,
                       "VINOVA_DATABASE_URL": database_url, "VINOVA_DATA_DIR": str(folder / "data")}
        log_path = folder / "node.log"
        command[-1] = str(port)
        with log_path.open("wb") as log:
            node = subprocess.Popen(command, cwd=PROJECT, env=environment, stdout=log,
                                    stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: port_open(port) or node.poll() is not None, START_TIMEOUT_S,
                       message="the node under valgrind")
            idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(idle_connections)]
            for each in idle:
                stack.callback(each.close)
            measured = Round(HttpClient(f"http://127.0.0.1:{port}", close), users_and_tokens)
            start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
            for index in range(1 + rounds):
                measured.run(start + timedelta(minutes=index), True)
        finally:
            node.send_signal(signal.SIGINT)
            try:
                node.wait(120)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait(10)
        text = log_path.read_text(errors="replace")
    found = counted(text)
    if found is None:
        raise SystemExit(f"no instruction count from the node:\n{text[-3000:]}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2, help="extra agent-minutes of the second run")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server (default: a new SQLite file)")
    parser.add_argument("--idle-connections", type=int, default=0,
                        help="connections held open and silent beside the one in use")
    parser.add_argument("--close", action="store_true", help="a new connection for each request")
    options = parser.parse_args()
    spent, count = per_request(options.users, options.rounds, lambda rounds: node_instructions(
        options.users, rounds, options.postgres, options.idle_connections, options.close))
    print(f"node on {'PostgreSQL' if options.postgres else 'SQLite'}, {options.users} users, "
          f"{options.idle_connections} idle connections, "
          f"{'a connection per request' if options.close else 'one kept connection'}: {count} requests "
          "of the agent mix cost "
          f"{spent:,} instructions, {spent / count / 1e6:.3f} million a request")


if __name__ == "__main__":
    main()
