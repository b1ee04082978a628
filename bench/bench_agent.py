"""The headless agent's footprint: average CPU % of one core and peak RSS while someone types.

Starts its own Xvfb (-noreset), a server (scripts-free: app.py on SQLite in a temp dir), signs a
user in through the API (code read from the outbox), writes the agent's saved session, then runs
``main.py --headless`` for ``--minutes`` while xdotool types at ``--keys-per-second``. The agent
process alone is measured (psutil): CPU time / wall time, and RSS sampled every second.

The same run is also a soak: every 10 s the RSS goes on a curve (``--rss-csv`` writes it out), and
after a ``--warm-up-minutes`` warm-up (5 by default) the growth from the first post-warm-up sample to
the largest later one must stay within ``--max-growth-mb`` (5 MB); the run exits 1 when it does not.

    .venv/bin/python bench/bench_agent.py --minutes 10 [--capture-interval 60]
    .venv/bin/python bench/bench_agent.py --minutes 60 --rss-csv /tmp/soak.csv
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "tests"))

from server_support import latest_code, sign_in
from support import free_port, port_open, wait_until

from agent.session import SavedSession, save_session

PASSWORD = "benchmark password"
CURVE_PERIOD_S = 10.0


@dataclass(frozen=True)
class SoakSummary:
    """The RSS curve read against its warm-up: where it stood after warm-up, its peak later, its end."""

    after_warm_up_mb: float
    peak_after_warm_up_mb: float
    final_mb: float
    growth_mb: float


def soak_summary(curve: list[tuple[float, int]], warm_up_s: float) -> SoakSummary | None:
    """Growth after warm-up: the largest later sample minus the first sample at or past ``warm_up_s``."""
    later = [rss for elapsed_s, rss in curve if elapsed_s >= warm_up_s]
    if not later:
        return None
    mib = 1024 * 1024
    return SoakSummary(later[0] / mib, max(later) / mib, later[-1] / mib, (max(later) - later[0]) / mib)


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """An Xvfb on a display it picks itself (``-displayfd``): two benches started at once never share one."""
    read_end, write_end = os.pipe()
    command = ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1920x1080x24", "-noreset",
               "-nolisten", "tcp"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               pass_fds=(write_end,))
    os.close(write_end)
    with os.fdopen(read_end, "rb") as announced:
        number = announced.readline().strip().decode()
    if not number:
        raise SystemExit("Xvfb did not start")
    display = f":{number}"
    wait_until(lambda: subprocess.run(["xdpyinfo", "-display", display], capture_output=True,
                                      check=False).returncode == 0, 15)
    return process, display


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--keys-per-second", type=float, default=5.0)
    parser.add_argument("--capture-interval", type=int, default=0,
                        help="seconds between screenshots (0 = capture off, as in the agent-core bench)")
    parser.add_argument("--gui", action="store_true", help="measure the window instead of --headless")
    parser.add_argument("--warm-up-minutes", type=float, default=5.0)
    parser.add_argument("--max-growth-mb", type=float, default=5.0)
    parser.add_argument("--rss-csv", type=Path, help="write the 10 s RSS curve here (elapsed_s,rss_bytes)")
    arguments = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vinova-bench-"))
    xvfb, display = start_xvfb()
    port = free_port()
    server_env = {**os.environ, "VINOVA_DATA_DIR": str(work / "server"), "VINOVA_ENV_FILE": "",
                  "VINOVA_LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "create-user", "bench", "--email",
                    "bench@example.com", "--admin", "--password-stdin"], cwd=PROJECT, env=server_env,
                   input=f"{PASSWORD}\n", text=True, check=True, capture_output=True)
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=PROJECT, env=server_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    agent: subprocess.Popen[bytes] | None = None
    failed = False
    typist: subprocess.Popen[bytes] | None = None
    try:
        wait_until(lambda: port_open(port), 30)
        url = f"http://127.0.0.1:{port}"
        token = sign_in(url, "bench", PASSWORD, lambda: latest_code(work / "server", "bench@example.com"))
        config = {"config_poll_interval": 60, "capture_enabled": arguments.capture_interval > 0}
        if arguments.capture_interval:
            config["screenshot_interval"] = arguments.capture_interval
        requests.put(f"{url}/api/users/bench/config", json=config,
                     headers={"Authorization": f"Bearer {token}"}, timeout=10).raise_for_status()
        agent_dir = work / "agent"
        save_session(agent_dir, SavedSession(url, "bench", token, "2099-01-01T00:00:00+00:00"))
        env = {**os.environ, "DISPLAY": display, "VINOVA_AGENT_DIR": str(agent_dir), "VINOVA_SERVER_URL": url,
               "HOME": str(work / "home"), "VINOVA_LOG_LEVEL": "INFO"}
        command = [sys.executable, "main.py"] + ([] if arguments.gui else ["--headless"])
        agent = subprocess.Popen(command, cwd=PROJECT, env=env, stdin=subprocess.DEVNULL,
                                 stdout=(work / "agent.out").open("wb"), stderr=subprocess.STDOUT)
        wait_until(lambda: "agent started" in (work / "agent.out").read_text(errors="replace"), 60)
        measured = psutil.Process(agent.pid)
        duration = arguments.minutes * 60
        key_count = int(duration * arguments.keys_per_second) + 10
        delay_ms = int(1000 / arguments.keys_per_second)
        typist = subprocess.Popen(["xdotool", "key", "--delay", str(delay_ms), *(["a"] * key_count)],
                                  env={**os.environ, "DISPLAY": display})
        cpu_before = measured.cpu_times()
        started = time.monotonic()
        peak_rss = measured.memory_info().rss
        curve: list[tuple[float, int]] = [(0.0, peak_rss)]
        while time.monotonic() - started < duration:
            time.sleep(1.0)  # the sampling period of the measurement itself
            rss = measured.memory_info().rss
            peak_rss = max(peak_rss, rss)
            elapsed_s = time.monotonic() - started
            if elapsed_s - curve[-1][0] >= CURVE_PERIOD_S:
                curve.append((elapsed_s, rss))
                if arguments.rss_csv is not None:
                    write_curve(arguments.rss_csv, curve)
        cpu_after = measured.cpu_times()
        elapsed = time.monotonic() - started
        cpu_seconds = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        print(f"agent mode: {'window' if arguments.gui else 'headless'}; "
              f"{arguments.minutes:g} min typing at {arguments.keys_per_second:g} keys/s; "
              f"captures every {arguments.capture_interval or 'never'} s")
        print(f"average CPU: {100 * cpu_seconds / elapsed:.2f} % of one core")
        print(f"peak RSS: {peak_rss / 1024 / 1024:.1f} MB")
        failed = report_soak(curve, arguments.warm_up_minutes * 60, arguments.max_growth_mb)
    finally:
        for process in (typist, agent, server):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(10)
        xvfb.terminate()
        xvfb.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    if failed:
        sys.exit(1)


def write_curve(path: Path, curve: list[tuple[float, int]]) -> None:
    """Rewrite the whole curve so a run stopped early still leaves every sample taken."""
    path.write_text("elapsed_s,rss_bytes\n" + "".join(f"{t:.0f},{rss}\n" for t, rss in curve))


def report_soak(curve: list[tuple[float, int]], warm_up_s: float, max_growth_mb: float) -> bool:
    """Print the curve's figures; True when the growth after warm-up is over ``max_growth_mb``."""
    mib = 1024 * 1024
    minutes = [rss / mib for t, rss in curve if t == 0.0 or int(t) % 300 < CURVE_PERIOD_S]
    print(f"RSS curve: {len(curve)} samples every {CURVE_PERIOD_S:g} s; every 5 min: "
          + ", ".join(f"{value:.1f}" for value in minutes) + " MB")
    summary = soak_summary(curve, warm_up_s)
    if summary is None:
        print(f"soak: the run was shorter than the {warm_up_s / 60:g} min warm-up; no growth figure")
        return False
    verdict = "pass" if summary.growth_mb <= max_growth_mb else "FAIL"
    print(f"soak after {warm_up_s / 60:g} min warm-up: {summary.after_warm_up_mb:.1f} MB -> peak "
          f"{summary.peak_after_warm_up_mb:.1f} MB, final {summary.final_mb:.1f} MB; growth "
          f"{summary.growth_mb:.2f} MB (limit {max_growth_mb:g} MB): {verdict}")
    return summary.growth_mb > max_growth_mb


if __name__ == "__main__":
    main()
