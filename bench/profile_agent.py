#!/usr/bin/env python3
"""Run ``main.py`` as the agent and, at its exit, write where its memory went (for bench_gui.py).

    VINOVA_BENCH_REPORT=/tmp/report.txt python bench/profile_agent.py [main.py's arguments]

With ``VINOVA_BENCH_TRACEMALLOC=1`` tracemalloc records allocations from the start (it slows the
agent and adds its own memory, so CPU and RSS figures from such a run are not the app's). The
report holds the top allocations by traceback, ``/proc/self/smaps_rollup`` and the imported
modules grouped by top-level package. It is written on SIGUSR1 (what bench_gui.py sends at the end
of its measurement: the window's SIGTERM ends the process without Python's exit hooks) and at a
normal exit. Without ``VINOVA_BENCH_REPORT`` it only runs ``main.py``.
"""

from __future__ import annotations

import atexit
import os
import runpy
import signal
import sys
import tracemalloc
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
TOP_ALLOCATIONS = 25
TRACEBACK_FRAMES = 12


def module_groups() -> list[tuple[str, int]]:
    """Imported modules counted by top-level package, largest first."""
    counts: dict[str, int] = {}
    for name in list(sys.modules):
        top = name.split(".", 1)[0]
        counts[top] = counts.get(top, 0) + 1
    return sorted(counts.items(), key=lambda pair: -pair[1])


def write_report(path: Path) -> None:
    lines = [f"modules imported: {len(sys.modules)}"]
    lines += [f"  {top}: {count}" for top, count in module_groups()]
    try:
        lines += ["", "smaps_rollup:", Path("/proc/self/smaps_rollup").read_text(encoding="ascii")]
    except OSError as exc:
        lines += [f"no smaps_rollup: {exc}"]
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot().filter_traces([
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap*"),
        ])
        current, peak = tracemalloc.get_traced_memory()
        lines += [f"tracemalloc: {current / 1_048_576:.1f} MB now, {peak / 1_048_576:.1f} MB peak", ""]
        lines += ["top by file:"]
        lines += [f"  {stat}" for stat in snapshot.statistics("filename")[:TOP_ALLOCATIONS]]
        lines += ["", "top by traceback:"]
        for stat in snapshot.statistics("traceback")[:TOP_ALLOCATIONS]:
            lines.append(f"{stat.size / 1024:.1f} KiB in {stat.count} blocks")
            lines += [f"    {line}" for line in stat.traceback.format(most_recent_first=True)[:8]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    report = os.environ.get("VINOVA_BENCH_REPORT")
    if report and os.environ.get("VINOVA_BENCH_TRACEMALLOC") == "1":
        tracemalloc.start(TRACEBACK_FRAMES)
    if report:
        atexit.register(write_report, Path(report))
        signal.signal(signal.SIGUSR1, lambda _number, _frame: write_report(Path(report)))
    sys.path.insert(0, str(PROJECT_DIR))
    sys.argv = [str(PROJECT_DIR / "main.py"), *sys.argv[1:]]
    runpy.run_path(str(PROJECT_DIR / "main.py"), run_name="__main__")


if __name__ == "__main__":
    main()
