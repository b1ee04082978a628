#!/usr/bin/env python3
"""The desktop app's cost: average CPU % of one core and peak RSS while it tracks.

Runs the real ``main.py`` (window, input listeners, captures every 60 s, uploads) under its own
Xvfb against a local server, with xdotool typing at 5 keys/s into another program's window (a Tk text
box: the person works in their own apps, not in Vinova's window), for ``--minutes`` (default 10).
The server runs in this process, so only the agent's own work is measured.

    .venv/bin/python bench/bench_gui.py --minutes 10
    .venv/bin/python bench/bench_gui.py --minutes 5 --tray --hidden --capture-interval 300

``--hidden`` closes the window once tracking (WM_DELETE_WINDOW, as a window manager's close button):
with ``--tray`` it waits in the tray, as the installed app mostly runs. ``--capture-interval`` sets the
organisation's screenshot interval (the product's default is 300 s; 60 s is the heavier case).

``--report PATH`` starts the agent through ``bench/profile_agent.py``, which writes the imported
modules and ``smaps_rollup`` to PATH when the agent exits; with ``--tracemalloc`` also the top
allocations by traceback (that run's CPU and RSS include tracemalloc's own cost: profile with it,
measure without it).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT_DIR), str(PROJECT_DIR / "tests")]

import psutil
import requests
from server_support import add_user, bearer, latest_code, make_app, sign_in
from support import close_button
from werkzeug.serving import make_server

from agent.session import SavedSession, save_session

PASSWORD = "bench password 1"
KEYS_PER_SECOND = 5
CAPTURE_INTERVAL_SECONDS = 60
# The person's own program, which the typing goes to (undecorated: there is no window manager).
WORK_WINDOW = """
import sys, tkinter
root = tkinter.Tk()
root.title("Work")
root.geometry("700x400+1200+650")
text = tkinter.Text(root)
text.pack(fill="both", expand=True)
text.focus_set()
root.mainloop()
"""


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    number = next(n for n in range(200, 300) if not Path(f"/tmp/.X{n}-lock").exists())
    display = f":{number}"
    command = ["Xvfb", display, "-screen", "0", "1920x1080x24", "-noreset", "-nolisten", "tcp"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: subprocess.run(["xdpyinfo", "-display", display], capture_output=True).returncode == 0,
             15, "Xvfb")
    return process, display


def find_window(display: str, pattern: str) -> int | None:
    """The first window whose name matches ``pattern`` (xdotool's regular expression), or None."""
    found = subprocess.run(["xdotool", "search", "--name", pattern], capture_output=True, text=True,
                           env={**os.environ, "DISPLAY": display})
    windows = found.stdout.split()
    return int(windows[0]) if windows else None


def window_title(display: str) -> str:
    window = find_window(display, "^Vinova")
    if window is None:
        return ""
    name = subprocess.run(["xdotool", "getwindowname", str(window)], capture_output=True, text=True,
                          env={**os.environ, "DISPLAY": display})
    return name.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--tray", action="store_true", help="run trayer on the display: the icon docks")
    parser.add_argument("--hidden", action="store_true",
                        help="close the window once tracking (to the tray with --tray, else minimised)")
    parser.add_argument("--capture-interval", type=int, default=CAPTURE_INTERVAL_SECONDS,
                        help=f"the screenshot interval in seconds (default {CAPTURE_INTERVAL_SECONDS})")
    parser.add_argument("--report", type=Path, help="write the agent's modules and memory map here at exit")
    parser.add_argument("--tracemalloc", action="store_true", help="with --report: top allocations too")
    arguments = parser.parse_args()
    duration_seconds = arguments.minutes * 60
    work = Path(tempfile.mkdtemp(prefix="vinova-bench-gui-"))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    xvfb, display = start_xvfb()
    tray = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype", "request"],
                            env={**os.environ, "DISPLAY": display}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL) if arguments.tray else None
    app = make_app(f"sqlite:///{work / 'server.db'}", work / "server-data")
    add_user(app, "ann", "ann@example.com", PASSWORD)
    add_user(app, "boss", "boss@example.com", PASSWORD, admin=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_port}"
    outbox = work / "server-data"
    admin = sign_in(base_url, "boss", PASSWORD, lambda: latest_code(outbox, "boss@example.com"))
    requests.put(f"{base_url}/api/config", headers=bearer(admin), timeout=10,
                 json={"screenshot_interval": arguments.capture_interval}).raise_for_status()
    token = sign_in(base_url, "ann", PASSWORD, lambda: latest_code(outbox, "ann@example.com"))
    agent_dir = work / "agent"
    agent_dir.mkdir(mode=0o700)
    save_session(agent_dir, SavedSession(base_url, "ann", token, "2099-01-01T00:00:00+00:00"))
    env = {**os.environ, "DISPLAY": display, "HOME": str(work / "home"), "VINOVA_SERVER_URL": base_url,
           "VINOVA_AGENT_DIR": str(agent_dir), **({"PYSTRAY_BACKEND": "xorg"} if tray is not None else {})}
    launcher = PROJECT_DIR / "main.py"
    if arguments.report is not None:
        launcher = PROJECT_DIR / "bench" / "profile_agent.py"
        arguments.report.unlink(missing_ok=True)
        env["VINOVA_BENCH_REPORT"] = str(arguments.report.resolve())
        env["VINOVA_BENCH_TRACEMALLOC"] = "1" if arguments.tracemalloc else "0"
    agent = subprocess.Popen([sys.executable, str(launcher)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    typist: subprocess.Popen[bytes] | None = None
    work_window = subprocess.Popen([sys.executable, "-c", WORK_WINDOW], env=env)
    try:
        wait_for(lambda: window_title(display) == "Vinova — Tracking", 60, "the window to reach Tracking")
        typed_into = wait_for(lambda: find_window(display, "^Work$"), 30, "the work window")
        # No window manager: focus follows the pointer, so both go to the person's own window.
        subprocess.run(["xdotool", "mousemove", "1500", "800", "windowfocus", "--sync", str(typed_into)],
                       env=env, check=True, timeout=20)
        if arguments.hidden:
            vinova = find_window(display, "^Vinova")
            assert vinova is not None
            close_button(display, vinova)
            wait_for(lambda: "IsViewable" not in subprocess.run(
                ["xwininfo", "-id", str(vinova)], capture_output=True, text=True, env=env).stdout,
                30, "the window hidden")
        measured = psutil.Process(agent.pid)
        key_count = int(duration_seconds * KEYS_PER_SECOND)
        text = ("the quick brown fox jumps over the lazy dog " * (key_count // 40 + 1))[:key_count]
        typist = subprocess.Popen(["xdotool", "type", "--delay", str(1000 // KEYS_PER_SECOND), text], env=env)
        cpu_before = measured.cpu_times()
        load_before = os.getloadavg()
        started = time.monotonic()
        peak_rss = 0
        while time.monotonic() - started < duration_seconds:
            peak_rss = max(peak_rss, measured.memory_info().rss)
            time.sleep(1.0)
        cpu_after = measured.cpu_times()
        load_after = os.getloadavg()
        wall = time.monotonic() - started
        cpu_seconds = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        with open(f"/proc/{agent.pid}/status", encoding="ascii") as status:
            high_water = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))
        samples = requests.get(f"{base_url}/api/activity", params={"username": "ann"}, headers=bearer(admin),
                               timeout=10).json()["samples"]
        shots = requests.get(f"{base_url}/api/screenshots", params={"username": "ann"}, headers=bearer(admin),
                             timeout=10).json().get("screenshots", [])
        print(f"machine: {platform.machine()}, {psutil.cpu_count()} cores, "
              f"Python {platform.python_version()}")
        print(f"load average (1, 5, 15 min): at start {', '.join(f'{v:.2f}' for v in load_before)}; "
              f"at end {', '.join(f'{v:.2f}' for v in load_after)}")
        print(f"run: {wall / 60:.1f} min, typing {KEYS_PER_SECOND} keys/s, "
              f"capture every {arguments.capture_interval} s, tray {'on (trayer)' if tray else 'off'}, "
              f"window {'closed' if arguments.hidden else 'shown'}")
        print(f"agent CPU: {100 * cpu_seconds / wall:.2f} % of one core on average ({cpu_seconds:.1f} s)")
        print(f"agent peak RSS: {max(peak_rss, high_water) / 1_048_576:.1f} MB "
              f"(sampled max {peak_rss / 1_048_576:.1f} MB, VmHWM {high_water / 1_048_576:.1f} MB)")
        print(f"server saw: {sum(s['keys'] for s in samples)} keys in {len(samples)} minutes, "
              f"{len(shots)} screenshots registered today")
        if arguments.report is not None:
            agent.send_signal(signal.SIGUSR1)
            wait_for(lambda: arguments.report.exists(), 60, "the agent's memory report")
            print(f"memory report: {arguments.report}")
    finally:
        work_window.kill()
        work_window.wait(10)
        if typist is not None and typist.poll() is None:
            typist.terminate()
            typist.wait(5)
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(10)
        except subprocess.TimeoutExpired:
            agent.kill()
        server.shutdown()
        if tray is not None:
            tray.terminate()
            tray.wait(10)
        xvfb.terminate()
        xvfb.wait(10)


if __name__ == "__main__":
    main()
