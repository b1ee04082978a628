"""Server figures: password hash cost, /get-config and /auth/me latency, 1,000-sample activity upserts.

Run: .venv/bin/python bench/bench_server.py [postgresql+psycopg://postgres@127.0.0.1:5432/test]
The optional URL adds a PostgreSQL run (in a throwaway schema) next to SQLite.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT_DIR), str(PROJECT_DIR / "tests")]

import sqlalchemy
from server_support import FakeClock, add_user, bearer, latest_code, make_app, sign_in

import auth_manager
from server.context import services_of

PASSWORD = "benchmark password"


def timed(function: Any, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(ordered):.2f} ms, p95 {p95:.2f} ms (n={len(ordered)})"


def batch(now: datetime, offset_minutes: int) -> dict[str, Any]:
    base = now.replace(second=0, microsecond=0)
    return {"samples": [
        {"minute_start": (base - timedelta(minutes=offset_minutes + i)).isoformat(), "active_seconds": 30,
         "keys": i, "clicks": 1, "scrolls": 0, "mouse_px": 100, "state": "tracking", "timezone": "UTC",
         "utc_offset_minutes": 0}
        for i in range(1000)
    ]}


def run(label: str, database_url: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        data_dir = Path(directory)
        clock = FakeClock()
        app = make_app(database_url, data_dir, clock=clock)
        add_user(app, "ann", "ann@example.com", PASSWORD)
        client = app.test_client()
        headers = bearer(sign_in(client, "ann", PASSWORD, lambda: latest_code(data_dir, "ann@")))
        client.get("/get-config", headers=headers)
        nobody = {"username": "nobody", "password": "x" * 12}
        unknown = timed(lambda: client.post("/auth/login", json=nobody), 20)
        wrong = timed(lambda: client.post("/auth/login", json={**nobody, "username": "ann"}), 9)
        print(f"[{label}] failed login, unknown user: {summary(unknown)}; wrong password: {summary(wrong)}")
        config_times = timed(lambda: client.get("/get-config", headers=headers), 300)
        print(f"[{label}] GET /get-config: {summary(config_times)}")
        me_times = timed(lambda: client.get("/auth/me", headers=headers), 300)
        print(f"[{label}] GET /auth/me: {summary(me_times)}")
        new = [batch(clock(), 1 + 1000 * k) for k in range(5)]
        inserts = timed(lambda: client.post("/activity", headers=headers, json=new.pop()), 5)
        print(f"[{label}] POST /activity, 1,000 new minutes: {summary(inserts)}")
        same = batch(clock(), 1)
        resends = timed(lambda: client.post("/activity", headers=headers, json=same), 5)
        print(f"[{label}] POST /activity, 1,000 resent minutes (replace): {summary(resends)}")
        read = timed(lambda: client.get("/api/activity", headers=headers), 20)
        rows = len(client.get("/api/activity", headers=headers).get_json()["samples"])
        print(f"[{label}] GET /api/activity, last 24 h ({rows} rows): {summary(read)}")
        services_of(app).database.dispose()


def main() -> None:
    hashes = timed(lambda: auth_manager.hash_password(PASSWORD), 20)
    print(f"scrypt hash (n=2**14, r=8, p=1, 16 MiB): {summary(hashes)}")
    with tempfile.TemporaryDirectory() as directory:
        run("sqlite", f"sqlite:///{Path(directory) / 'bench.db'}")
    if len(sys.argv) > 1:
        base_url = sys.argv[1]
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        engine = sqlalchemy.create_engine(base_url)
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
        try:
            run("postgresql", f"{base_url}?options=-csearch_path%3D{schema}")
        finally:
            with engine.begin() as connection:
                connection.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()
    print(f"measured {datetime.now(UTC):%Y-%m-%d}")


if __name__ == "__main__":
    main()
