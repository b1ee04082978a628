"""Machine instructions the server executes per request: a count no busy host can bend.

The load bench measures CPU time, and on a shared VM the same code costs 1.6 ms a request one
morning and 3.2 ms that afternoon (BENCHMARKS.md, 2026-12-03): a change of 10 % cannot be seen in
that. This bench runs bench_requests.py under valgrind's cachegrind (instruction counting only, no
cache simulation; about 10 times slower than native) twice, with ``1`` and ``1 + --rounds`` measured
agent-minutes, and divides the difference by the requests of the extra rounds: start-up, imports,
seeding and the warm-up cancel out. What it counts is the server process (Flask, SQLAlchemy, the
driver, the app), not the database server or the HTTP server in front of the app.

    .venv/bin/python bench/bench_instructions.py
    .venv/bin/python bench/bench_instructions.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
SCREENSHOT_EVERY = 5  # bench_requests: every fifth user sends a screenshot (sign, PUT, register)


def requests_per_round(users: int) -> int:
    """bench_requests' requests in one agent-minute: config + activity for each user, 3 per screenshot."""
    screenshots = (users + SCREENSHOT_EVERY - 1) // SCREENSHOT_EVERY
    return 2 * users + 3 * screenshots


def cachegrind(command: list[str]) -> list[str]:
    """``command`` under valgrind's cachegrind, counting instructions only (no cache simulation, no file)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (scripts/install-apt.sh installs it)")
    return [valgrind, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", *command]


def counted(output: str) -> int | None:
    """The instruction count (``I refs``) valgrind printed in ``output``, or None."""
    found = re.search(r"I\s+refs:\s+([\d,]+)", output)
    return None if found is None else int(found.group(1).replace(",", ""))


def per_request(users: int, rounds: int, count: Callable[[int], int]) -> tuple[int, int]:
    """``count(1 + rounds) - count(1)`` and the requests of those ``rounds`` agent-minutes."""
    base = count(1)
    more = count(1 + rounds)
    return more - base, rounds * requests_per_round(users)


def instructions(users: int, rounds: int, postgres: str | None) -> int:
    """The instructions bench_requests executes in all (valgrind's ``I refs``)."""
    command = cachegrind([sys.executable, str(PROJECT / "bench" / "bench_requests.py"),
                          "--users", str(users), "--rounds", str(rounds)])
    if postgres:
        command += ["--postgres", postgres]
    # The same hash seed in both runs: dict and set layouts, and so the work, do not vary between them.
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    found = counted(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"bench_requests under valgrind failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2, help="extra agent-minutes of the second run")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server (default: a new SQLite file)")
    options = parser.parse_args()
    spent, count = per_request(options.users, options.rounds,
                               lambda rounds: instructions(options.users, rounds, options.postgres))
    print(f"{'PostgreSQL' if options.postgres else 'SQLite'}, {options.users} users: {count} requests of the "
          f"agent mix cost {spent:,} instructions, {spent / count / 1e6:.3f} million a request")


if __name__ == "__main__":
    main()
