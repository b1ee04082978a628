"""How many agents one machine carries: simulated agents against real server processes.

Each simulated agent (bench/load_agents.py) polls ``GET /get-config`` with its ETag every 60 s,
posts a minute to ``POST /activity`` with its device every 60 s, and every 300 s signs, PUTs
(150 KB) and registers a screenshot; every schedule has a random phase and a ±3 s jitter.

The generator is one asyncio process with a small HTTP/1.1 client on asyncio streams: thousands of
mostly idle agents are cheap coroutines, not threads, so the generator's own CPU stays small next to
the server's on a 2-core machine, and no package beyond the standard library is needed (Locust's
gevent workers would cost more CPU per request). The generator shares the machine with the server:
its CPU is measured and printed next to the server's.

Users and their bearer tokens are made directly in the database with the server's own models
(one scrypt hash shared by all, a token per user) instead of 5,000 email-code sign-ins: sign-in is
once per agent and not part of the steady load measured here.

Modes:
  one    ``python app.py`` (waitress) on SQLite with the local screenshot store.
  nodes  two ``python app.py`` (``--workers N``: two gunicorns) on PostgreSQL and SeaweedFS's S3
         behind HAProxy (bench/load_nodes.py).

For each number of agents in ``--agents`` (a step search, ``--step-seconds`` each) the bench prints
requests per second, latency percentiles, errors, server CPU ms per request and the generator's CPU;
it stops at the first level with p99 ≥ 250 ms or any error. ``--confirm-seconds`` then reruns the
largest passing level once.

    .venv/bin/python bench/bench_load.py --mode one --agents 1000,2000,3000,4000,5000 --step-seconds 120
    .venv/bin/python bench/bench_load.py --mode one --agents 2500 --step-seconds 300
    .venv/bin/python bench/bench_load.py --mode one --agents 5000 --warm-up-seconds 120 --step-seconds 240
    .venv/bin/python bench/bench_load.py --mode nodes --http-reuse always --server-maxconn 2 --workers 2 \
        --agents 8000,9000 --warm-up-seconds 120 --step-seconds 315

``--keep-alive`` keeps each agent's connections open between calls, as the agent's requests.Session does:
one waitress node then stops accepting at about 100 agents (its default ``connection_limit``).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

PROJECT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT), str(PROJECT / "tests"), str(Path(__file__).resolve().parent)]

from load_agents import SimulatedAgent, Stats, Target
from support import free_port, port_open, wait_until

from server.db.database import Database
from server.db.models import AuthToken, User
from server.passwords import hash_password, token_digest
from server.tokens import RENEW_EVERY

P99_LIMIT_MS = 250.0
RENEW_SPREAD_S = RENEW_EVERY.total_seconds() - 10  # seeded tokens: last used within this many seconds
SETTLE_S = 15.0  # requests that start in the first seconds of a step are not counted (cold start)
SECRET_KEY = "bench-load-secret-key-" + "x" * 32
SPEED_PROBE_LOOPS = 10_000_000


@dataclass(frozen=True)
class StepResult:
    """One load level's figures."""

    agents: int
    seconds: float
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    p99_by_kind_ms: dict[str, float]
    server_cpu_ms_per_request: float
    server_cpu_percent: float
    support_cpu_ms_per_request: dict[str, float]
    generator_cpu_percent: float
    load_average: float
    speed_probe_s: float

    @property
    def passed(self) -> bool:
        """p99 under the limit and not one error."""
        return self.errors == 0 and self.p99_ms < P99_LIMIT_MS and self.requests > 0


def percentile(ordered: list[float], fraction: float) -> float:
    """The nearest-rank percentile of an already sorted list."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def speed_probe() -> float:
    """Seconds a fixed pure-Python loop takes now, printed with each step.

    A busy host slows the VM's cores without this VM seeing it (its load average stays low): on
    2026-12-03 the same loop took from 0.39 s to 1.8 s within two hours, and the figures moved with it;
    runs are comparable only at similar probes.
    """
    started = time.perf_counter()
    total = 0
    for number in range(SPEED_PROBE_LOOPS):
        total += number
    return time.perf_counter() - started


def seed_users(database_url: str, count: int) -> list[tuple[str, str]]:
    """Make ``count`` users and one bearer token each, straight through the server's models.

    Each token was last used 0-10 minutes ago, as in a fleet that has been running: tokens renew at
    most every ten minutes, so their renewals are spread over that window, not all due in the first
    minute (which a freshly seeded, never-used token would make them).
    """
    database = Database(database_url)
    database.migrate()
    now = datetime.now(UTC)
    password_hash = hash_password("bench load password")
    pairs = [(f"agent{i:05d}", secrets.token_urlsafe(32)) for i in range(count)]
    with database.session() as session:
        users = [User(username=name, email=f"{name}@example.com", password_hash=password_hash,
                      is_admin=False, is_enabled=True, created_at=now) for name, _ in pairs]
        session.add_all(users)
        session.flush()
        expires_at = now + timedelta(days=30)
        spread = random.Random(count)
        session.add_all([AuthToken(user_id=user.id, token_hash=token_digest(token), created_at=now,
                                   expires_at=expires_at,
                                   last_used_at=now - timedelta(seconds=spread.uniform(0, RENEW_SPREAD_S)))
                         for user, (_, token) in zip(users, pairs, strict=True)])
    database.dispose()
    return pairs


def start_node(
    port: int, environ: dict[str, str], log_path: Path, workers: int = 1, threads: int = 0
) -> subprocess.Popen[bytes]:
    """``python app.py --port PORT [--threads N]`` (``workers`` > 1: gunicorn with that many processes).

    Returns once it accepts connections.
    """
    env = {**os.environ, "VINOVA_ENV_FILE": "", "VINOVA_LOG_LEVEL": "WARNING",
           "VINOVA_SECRET_KEY": SECRET_KEY, **environ}
    if workers > 1:
        command = [sys.executable, "-m", "gunicorn", "-c", "python:server.gunicorn_conf", "-w", str(workers),
                   "-b", f"127.0.0.1:{port}", "app:create_app()"]
    else:
        command = [sys.executable, "app.py", "--port", str(port)]
        if threads:
            command += ["--threads", str(threads)]
    process = subprocess.Popen(command, cwd=PROJECT, env=env,
                               stdout=log_path.open("ab"), stderr=subprocess.STDOUT)
    wait_until(lambda: port_open(port) or process.poll() is not None, 60, message=f"node on {port}")
    if process.poll() is not None:
        raise SystemExit(f"the server on port {port} did not start; see {log_path}")
    return process


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Terminate the processes this bench started, then wait for each."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def one_node(work: Path, agents: int, workers: int = 1,
             threads: int = 0) -> Iterator[tuple[Target, list[tuple[str, str]]]]:
    """Mode (a): one node on SQLite with the local store (``python app.py``, or gunicorn ``workers``)."""
    database_url = f"sqlite:///{work / 'server' / 'vinova.db'}"
    pairs = seed_users(database_url, agents)
    port = free_port()
    node = start_node(port, {"VINOVA_DATA_DIR": str(work / "server"), "VINOVA_DATABASE_URL": database_url},
                      work / "node.log", workers, threads)
    try:
        yield Target(f"http://127.0.0.1:{port}", (node.pid,), "", {}), pairs
    finally:
        stop([node])


def cpu_by_pid(pids: tuple[int, ...]) -> dict[int, float]:
    """User + system CPU seconds so far of each process and its children, by pid (each counted once)."""
    seconds: dict[int, float] = {}
    for pid in pids:
        try:
            process = psutil.Process(pid)
            family = [process, *process.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for each in family:
            try:
                times = each.cpu_times()
            except psutil.NoSuchProcess:
                continue
            seconds[each.pid] = times.user + times.system
    return seconds


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings; a process that started meanwhile counts from zero."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


async def run_step(target: Target, pairs: list[tuple[str, str]], agents: int, seconds: float,
                   keep_alive: bool = False) -> StepResult:
    """Run ``agents`` simulated agents for ``seconds``; figures from requests started after the settle."""
    probe_s = speed_probe()
    stats = Stats()
    start = time.monotonic()
    stats.reset(start + SETTLE_S)
    until = start + seconds
    fleet = [SimulatedAgent(target.base_url, name, token, target.upload_prefix, stats, keep_alive)
             for name, token in pairs[:agents]]
    tasks = [asyncio.create_task(agent.run(until)) for agent in fleet]
    await asyncio.sleep(SETTLE_S)
    generator = psutil.Process()
    server_before, generator_before = cpu_by_pid(target.server_pids), generator.cpu_times()
    support_pids = {name: list_pids() for name, list_pids in target.support.items()}
    support_before = {name: cpu_by_pid(pids) for name, pids in support_pids.items()}
    measured_from = time.monotonic()
    await asyncio.gather(*tasks)
    measured_s = time.monotonic() - measured_from
    server_used = cpu_used(server_before, cpu_by_pid(target.server_pids))
    support_used = {name: cpu_used(support_before[name], cpu_by_pid(list_pids()))
                    for name, list_pids in target.support.items()}
    generator_after = generator.cpu_times()
    generator_used = (generator_after.user + generator_after.system
                      - generator_before.user - generator_before.system)
    every = sorted(value for values in stats.latencies_ms.values() for value in values)
    by_kind = {kind: percentile(sorted(values), 0.99) for kind, values in sorted(stats.latencies_ms.items())}
    errors = sum(stats.errors.values())
    for example in stats.error_examples:
        print(f"    error: {example}")
    return StepResult(
        agents=agents, seconds=measured_s, requests=len(every), errors=errors,
        p50_ms=percentile(every, 0.50), p99_ms=percentile(every, 0.99), p99_by_kind_ms=by_kind,
        server_cpu_ms_per_request=1000 * server_used / max(1, len(every)),
        server_cpu_percent=100 * server_used / measured_s,
        support_cpu_ms_per_request={name: 1000 * used / max(1, len(every))
                                    for name, used in support_used.items()},
        generator_cpu_percent=100 * generator_used / measured_s,
        load_average=os.getloadavg()[0],
        speed_probe_s=probe_s,
    )


def describe(result: StepResult) -> str:
    """One line of figures for a step."""
    kinds = ", ".join(f"{kind} {value:.0f}" for kind, value in result.p99_by_kind_ms.items())
    rate = result.requests / result.seconds
    return (f"{result.agents:>6} agents: {rate:7.1f} req/s, p50 {result.p50_ms:6.1f} ms, "
            f"p99 {result.p99_ms:7.1f} ms ({kinds}), errors {result.errors}, server CPU "
            f"{result.server_cpu_ms_per_request:.2f} ms/req ({result.server_cpu_percent:.0f} % of a core), "
            + "".join(f"{name} {value:.2f} ms/req, "
                      for name, value in result.support_cpu_ms_per_request.items())
            + f"generator CPU {result.generator_cpu_percent:.0f} %, load {result.load_average:.2f}, "
            f"speed probe {result.speed_probe_s:.2f} s -> "
            f"{'pass' if result.passed else 'FAIL'}")


def wait_for_quiet(load_limit: float, longest_s: float = 180.0) -> None:
    """Let other work on the machine settle before a step (no-op for a limit of 0); says what it saw."""
    if load_limit <= 0:
        return
    deadline = time.monotonic() + longest_s
    while os.getloadavg()[0] >= load_limit and time.monotonic() < deadline:
        time.sleep(5.0)  # the load average itself moves on a minute's scale
    print(f"  load before the step: {os.getloadavg()[0]:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("one", "nodes"), default="one")
    parser.add_argument("--agents", default="1000,2000,3000,4000,5000",
                        help="comma-separated load levels, smallest first")
    parser.add_argument("--step-seconds", type=float, default=120.0)
    parser.add_argument("--confirm-seconds", type=float, default=0.0,
                        help="rerun the largest passing level this long (0: no confirming run)")
    parser.add_argument("--quiet-load", type=float, default=0.0,
                        help="before each step wait (up to 3 min) for the 1-minute load average "
                             "to fall below this")
    parser.add_argument("--keep-alive", action="store_true",
                        help="each agent keeps one connection open between calls, as requests.Session does")
    parser.add_argument("--http-reuse", choices=("safe", "aggressive", "always", "never"), default="safe",
                        help="HAProxy's http-reuse in --mode nodes (safe is HAProxy's default)")
    parser.add_argument("--server-maxconn", type=int, default=0,
                        help="HAProxy's maxconn per node in --mode nodes (0: no limit)")
    parser.add_argument("--workers", type=int, default=1,
                        help="gunicorn with this many worker processes for each node (1: python app.py)")
    parser.add_argument("--threads", type=int, default=0,
                        help="python app.py --threads N for the node(s) (0: its default)")
    parser.add_argument("--warm-up-seconds", type=float, default=0.0,
                        help="run the largest level this long first, unmeasured (0: start cold)")
    parser.add_argument("--json", type=Path, help="append each step's figures to this file (JSON lines)")
    arguments = parser.parse_args()
    levels = [int(value) for value in arguments.agents.split(",")]
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # every in-flight request holds a socket
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {psutil.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}; mode {arguments.mode}; steps of {arguments.step_seconds:g} s "
          f"({SETTLE_S:g} s settle not counted)")
    with tempfile.TemporaryDirectory(prefix="vinova-load-") as directory:
        work = Path(directory)
        if arguments.mode == "one":
            environment = one_node(work, max(levels), arguments.workers, arguments.threads)
        else:
            from load_nodes import two_nodes

            node = functools.partial(start_node, workers=arguments.workers, threads=arguments.threads)
            environment = two_nodes(work, max(levels), seed_users, node, stop, arguments.http_reuse,
                                    arguments.server_maxconn)
        with environment as (target, pairs):
            print(f"serving at {target.base_url}; server pids {target.server_pids}")
            passing: StepResult | None = None
            if arguments.warm_up_seconds > 0:
                wait_for_quiet(arguments.quiet_load)
                print(f"warm-up: {max(levels)} agents for {arguments.warm_up_seconds:g} s, not judged "
                      "(their devices and config ETags then exist, as in a fleet that has been running)")
                warm = asyncio.run(run_step(target, pairs, max(levels), arguments.warm_up_seconds,
                                            arguments.keep_alive))
                print("  warm-up: " + describe(warm), flush=True)
            for level in levels:
                wait_for_quiet(arguments.quiet_load)
                step = run_step(target, pairs, level, arguments.step_seconds, arguments.keep_alive)
                result = asyncio.run(step)
                print(describe(result), flush=True)
                if arguments.json is not None:
                    with arguments.json.open("a") as out:
                        out.write(json.dumps({"mode": arguments.mode, **result.__dict__}) + "\n")
                if not result.passed:
                    break
                passing = result
            if passing is not None and arguments.confirm_seconds > 0:
                wait_for_quiet(arguments.quiet_load)
                print(f"confirming {passing.agents} agents for {arguments.confirm_seconds:g} s")
                result = asyncio.run(run_step(target, pairs, passing.agents, arguments.confirm_seconds,
                                              arguments.keep_alive))
                print(describe(result), flush=True)
                if arguments.json is not None:
                    with arguments.json.open("a") as out:
                        figures = {"mode": arguments.mode, "confirm": True, **result.__dict__}
                        out.write(json.dumps(figures) + "\n")
    print(f"largest passing level: {passing.agents if passing else 'none'} agents")


if __name__ == "__main__":
    main()
