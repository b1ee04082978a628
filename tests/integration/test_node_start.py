"""Server nodes starting for real: ten ``python app.py`` at once on one empty PostgreSQL schema, and gunicorn.

The schema comes from ``VINOVA_TEST_DATABASE_URL`` like the ``database_url`` fixture's: a fresh
schema per test, reached through ``?options=-csearch_path%3D<schema>`` in the URL, dropped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
import requests
from support import free_port, wait_until

PROJECT_DIR = Path(__file__).resolve().parents[2]
NODE_COUNT = 10
SECRET_KEY = "node-start-test-secret-key"

pytestmark = pytest.mark.integration


@dataclass
class Process:
    """A started server process, its port and its log file."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        """The process's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """Everything the process logged so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """Terminate the process (kill it when it does not stop within 10 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def clean_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The test's environment without any Vinova, mail or S3 setting, plus ``extra``."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("VINOVA_", "SMTP_", "MAIL_", "S3_"))}
    environment.update({"VINOVA_ENV_FILE": "", "PYTHONUNBUFFERED": "1", **extra})
    return environment


def start(command: list[str], directory: Path, port: int, environment: Mapping[str, str]) -> Process:
    """Start ``command`` in ``directory`` (its own data folder), logging to ``directory/server.log``."""
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=PROJECT_DIR, env={**environment, "VINOVA_DATA_DIR": str(directory / "data")},
            stdout=log, stderr=subprocess.STDOUT,
        )
    return Process(process, port, log_path)


def healthy(server: Process) -> bool:
    """True once ``GET /health`` answers 200; fails the test when the process has exited."""
    if server.process.poll() is not None:
        raise AssertionError(f"the server on port {server.port} exited:\n{server.log()[-3000:]}")
    try:
        with requests.get(f"{server.url}/health", timeout=2) as answer:
            return answer.status_code == 200
    except requests.RequestException:
        return False


def test_ten_nodes_started_at_once_on_an_empty_database_all_serve_and_migrate_it_once(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, text

    from server.db.database import MIGRATIONS_DIR

    environment = clean_environment({"VINOVA_DATABASE_URL": postgres_schema_url,
                                     "VINOVA_SECRET_KEY": SECRET_KEY})
    started_at = time.monotonic()
    nodes = []
    try:
        for number in range(NODE_COUNT):
            port = free_port()
            nodes.append(start([sys.executable, "app.py", "--port", str(port)], tmp_path / f"node{number}",
                               port, environment))
        for node in nodes:
            wait_until(partial(healthy, node), timeout=120, interval=0.1,
                       message=f"node on port {node.port} to serve /health")
        all_serving_seconds = time.monotonic() - started_at
        print(f"{NODE_COUNT} nodes serving {all_serving_seconds:.1f} s after the first started")
    finally:
        for node in nodes:
            node.stop()
    logs = [node.log() for node in nodes]
    for log in logs:
        assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
    assert sum("database schema upgraded from None" in log for log in logs) == 1  # migrated once
    engine = create_engine(postgres_schema_url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    finally:
        engine.dispose()
    assert versions == [ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()]


def served_by_worker(log: str) -> list[str]:
    """The worker of each successful /auth/ request in gunicorn's access log."""
    return [line.split()[0] for line in log.splitlines()
            if line.startswith("worker=") and " /auth/" in line and line.endswith(" 200")]


def test_gunicorn_with_two_workers_on_sqlite_shares_one_key_and_sign_in_holds_across_workers(
    tmp_path: Path,
) -> None:
    if sys.platform == "win32":
        pytest.skip("gunicorn runs on Unix only")
    from server_support import latest_code, sign_in

    port = free_port()
    environment = clean_environment({})
    command = [sys.executable, "-m", "gunicorn", "-c", "python:server.gunicorn_conf", "-w", "2",
               "-b", f"127.0.0.1:{port}", "--access-logfile", "-",
               "--access-logformat", "worker=%(p)s %(m)s %(U)s %(s)s", "app:create_app()"]
    server = start(command, tmp_path / "gunicorn", port, environment)
    data_dir = tmp_path / "gunicorn" / "data"
    try:
        wait_until(lambda: server.log().count("Booting worker") == 2 and healthy(server), timeout=60,
                   message="gunicorn's two workers to serve")
        created = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", "create-user", "ann",
             "--email", "ann@example.com", "--password-stdin"],
            cwd=PROJECT_DIR, env={**environment, "VINOVA_DATA_DIR": str(data_dir)},
            input="correct horse battery\n", capture_output=True, text=True, timeout=60, check=False,
        )
        assert created.returncode == 0, created.stderr
        tokens = [sign_in(server.url, "ann", "correct horse battery",
                          lambda: latest_code(data_dir, "ann@example.com")) for _ in range(4)]
        statuses: list[int] = []

        def whoami(token: str) -> int:
            with requests.get(f"{server.url}/auth/me", headers={"Authorization": f"Bearer {token}"},
                              timeout=10) as answer:
                return answer.status_code

        def both_workers_served() -> bool:
            # Requests at once: a sync worker busy with one leaves the next connection to the other
            # (one after another, the kernel may hand every connection to the same worker).
            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses.extend(pool.map(whoami, tokens * 2))
            return len(set(served_by_worker(server.log()))) == 2

        wait_until(both_workers_served, timeout=30, interval=0.1, message="both workers to serve tokens")
    finally:
        server.stop()
    assert statuses == [200] * len(statuses)
    log = server.log()
    assert "Traceback" not in log, log[-3000:]
    assert len(served_by_worker(log)) == 4 * 2 + len(statuses)
    assert (data_dir / "secret_key").is_file()
    assert not [path.name for path in data_dir.iterdir() if path.name.startswith(".secret_key")]
    assert log.count("daily retention purge scheduled in worker") == 2  # each worker runs it, as app.py does
