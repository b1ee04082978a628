"""Server CPU per request, by kind, measured in one process through the WSGI app (no sockets).

The load bench (bench_load.py) says how many agents a machine carries; this one says where the
server's CPU goes, and it does not need a quiet machine: it counts this process's CPU time, not
wall time. Each round makes the requests of one simulated agent-minute for ``--users`` users:
``GET /get-config`` with the ETag (304), ``POST /activity`` with one minute, and for every fifth
user a screenshot (sign, PUT to the local store, register). SQLite and the local store by default;
``--postgres URL`` runs on a throwaway schema of that PostgreSQL server.

    .venv/bin/python bench/bench_requests.py --users 200 --rounds 5
    .venv/bin/python bench/bench_requests.py --profile 25      # the 25 costliest functions too
    .venv/bin/python bench/bench_requests.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import pstats
import random
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT), str(PROJECT / "tests"), str(Path(__file__).resolve().parent)]

from bench_load import seed_users
from load_agents import capture_jpeg
from support import postgres_schema

SECRET_KEY = "bench-requests-secret-key-" + "x" * 32


def build_app(database_url: str, data_dir: Path) -> Any:
    """The server as ``python app.py`` builds it, quiet, on ``database_url``."""
    from app import create_app

    return create_app({"VINOVA_ENV_FILE": "", "VINOVA_DATABASE_URL": database_url,
                       "VINOVA_DATA_DIR": str(data_dir), "VINOVA_SECRET_KEY": SECRET_KEY,
                       "VINOVA_LOG_LEVEL": "WARNING"})


class Round:
    """One agent-minute of requests for every user; CPU seconds summed per request kind."""

    def __init__(self, client: Any, users: list[tuple[str, str]]) -> None:
        self.client = client
        self.users = users
        self.devices = {name: uuid.uuid4().hex for name, _ in users}
        self.etags: dict[str, str] = {}
        self.cpu_seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def _timed(self, kind: str, expect: tuple[int, ...], method: str, path: str, **arguments: Any) -> Any:
        started = time.process_time()
        response = self.client.open(path, method=method, **arguments)
        self.cpu_seconds[kind] += time.process_time() - started
        self.counts[kind] += 1
        if response.status_code not in expect:
            raise SystemExit(f"{kind}: HTTP {response.status_code} {response.get_data()[:200]!r}")
        return response

    def run(self, minute: datetime, with_screenshots: bool) -> None:
        """Every user polls its config and posts ``minute``; every fifth one sends a screenshot."""
        for index, (name, token) in enumerate(self.users):
            headers = {"Authorization": f"Bearer {token}"}
            etag = self.etags.get(name)
            config = self._timed("config", (200, 304), "GET", "/get-config",
                                 headers={**headers, **({"If-None-Match": etag} if etag else {})})
            self.etags[name] = config.headers.get("ETag", "")
            sample = {"minute_start": minute.isoformat(), "active_seconds": 42, "keys": 120, "clicks": 9,
                      "scrolls": 3, "mouse_px": 4000, "state": "tracking", "timezone": "UTC",
                      "utc_offset_minutes": 0}
            body = {"device": {"id": self.devices[name], "name": f"bench {name}"}, "samples": [sample],
                    "agent": {"uploads_waiting": 0, "kept_aside": 0, "minutes_set_aside": 0,
                              "input_ok": True, "input_restarts": 0}}
            self._timed("activity", (200,), "POST", "/activity", json=body, headers=headers)
            if with_screenshots and index % 5 == 0:
                self._screenshot(name, headers, minute)

    def _screenshot(self, name: str, headers: dict[str, str], minute: datetime) -> None:
        payload = capture_jpeg()
        digest = hashlib.sha256(payload).hexdigest()
        taken_at = minute + timedelta(seconds=random.randint(0, 59))
        key = f"{name}/{taken_at:%Y/%m/%d/%H%M%S}Z-{digest[:16]}.jpg"
        common = {"key": key, "size_bytes": len(payload), "sha256": digest,
                  "device_id": self.devices[name]}
        signed = self._timed("sign", (200,), "POST", "/uploads/sign",
                             json={**common, "content_type": "image/jpeg"}, headers=headers)
        grant = signed.get_json()
        target = urlsplit(grant["url"])
        path = target.path + (f"?{target.query}" if target.query else "")
        self._timed("put", (200, 201, 204), "PUT", path, data=payload, headers=grant.get("headers", {}))
        self._timed("register", (200, 201), "POST", "/screenshots", headers=headers, json={
            **common, "taken_at": taken_at.isoformat(), "timezone": "UTC", "blurred": True,
            "width": 1920, "height": 1080})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5, help="agent-minutes measured (one warm-up before)")
    parser.add_argument("--no-screenshots", action="store_true")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server (default: a new SQLite file)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print the N costliest functions")
    parser.add_argument("--sort", default="tottime", choices=("tottime", "cumulative"),
                        help="--profile's order: own time (default) or time including callees")
    options = parser.parse_args()
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="vinova-bench-requests-"))
        database_url = (stack.enter_context(postgres_schema(options.postgres, "bench")) if options.postgres
                        else f"sqlite:///{folder}/vinova.db")
        users = seed_users(database_url, options.users)
        app = build_app(database_url, Path(folder) / "data")
        measured = Round(app.test_client(), users)
        start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
        measured.run(start, not options.no_screenshots)  # warm-up: first devices, first ETags
        measured.cpu_seconds.clear()
        measured.counts.clear()
        profiler = cProfile.Profile() if options.profile else None
        if profiler is not None:
            profiler.enable()
        for round_index in range(1, options.rounds + 1):
            measured.run(start + timedelta(minutes=round_index), not options.no_screenshots)
        if profiler is not None:
            profiler.disable()
    total_seconds = sum(measured.cpu_seconds.values())
    total_count = sum(measured.counts.values())
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {options.users} users x {options.rounds} rounds, "
          f"{'PostgreSQL' if options.postgres else 'SQLite'}")
    for kind in sorted(measured.counts):
        print(f"  {kind:9} {measured.counts[kind]:6} requests  "
              f"{measured.cpu_seconds[kind] / measured.counts[kind] * 1000:6.2f} ms CPU each")
    print(f"  all       {total_count:6} requests  {total_seconds / total_count * 1000:6.2f} ms CPU each")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats(options.sort).print_stats(options.profile)


if __name__ == "__main__":
    main()
