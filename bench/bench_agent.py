"""The headless agent's footprint: average CPU % of one core and peak RSS while someone types.

Starts its own Xvfb (-noreset), a server (scripts-free: app.py on SQLite in a temp dir), signs a
user in through the API (code read from the outbox), writes the agent's saved session, then runs
``main.py --headless`` for ``--minutes`` while xdotool types at ``--keys-per-second``. The agent
process alone is measured (psutil): CPU time / wall time, and RSS sampled every second.

    .venv/bin/python bench/bench_agent.py --minutes 10 [--capture-interval 60]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
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


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    number = next(n for n in range(200, 300) if not Path(f"/tmp/.X{n}-lock").exists())
    display = f":{number}"
    command = ["Xvfb", display, "-screen", "0", "1920x1080x24", "-noreset", "-nolisten", "tcp"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
        while time.monotonic() - started < duration:
            time.sleep(1.0)  # the sampling period of the measurement itself
            peak_rss = max(peak_rss, measured.memory_info().rss)
        cpu_after = measured.cpu_times()
        elapsed = time.monotonic() - started
        cpu_seconds = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        print(f"agent mode: {'window' if arguments.gui else 'headless'}; "
              f"{arguments.minutes:g} min typing at {arguments.keys_per_second:g} keys/s; "
              f"captures every {arguments.capture_interval or 'never'} s")
        print(f"average CPU: {100 * cpu_seconds / elapsed:.2f} % of one core")
        print(f"peak RSS: {peak_rss / 1024 / 1024:.1f} MB")
    finally:
        for process in (typist, agent, server):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(10)
        xvfb.terminate()
        xvfb.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
