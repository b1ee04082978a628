"""Input path under load: ~1,000 injected events/s for 10 s into the real pynput listeners.

Starts its own Xvfb (-noreset), feeds ActivityTracker through choose_input_source(), injects
key presses, pointer moves, clicks and scroll steps with XTest (python-xlib), then prints:
    events lost            injected minus counted, per kind (target 0)
    callback cost          median / p99 of the tracker's sink method per event, in µs (target ≤ 20 µs)
    tight-loop cost        the sink methods called directly 200,000 times, median per call, in µs

Run: .venv/bin/python bench/bench_input.py [--seconds 10] [--rate 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activity_tracker import ActivityTracker
from agent.adapters.inputs import choose_input_source


class TimedSink:
    """Forwards to the tracker and records how long each sink call took (ns)."""

    def __init__(self, tracker: ActivityTracker) -> None:
        self.tracker = tracker
        self.durations_ns: list[int] = []
        self.keys = self.clicks = self.scroll_steps = self.moves = 0

    def on_key_press(self) -> None:
        started = time.perf_counter_ns()
        self.tracker.on_key_press()
        self.durations_ns.append(time.perf_counter_ns() - started)
        self.keys += 1

    def on_click(self) -> None:
        started = time.perf_counter_ns()
        self.tracker.on_click()
        self.durations_ns.append(time.perf_counter_ns() - started)
        self.clicks += 1

    def on_scroll(self, steps: int) -> None:
        started = time.perf_counter_ns()
        self.tracker.on_scroll(steps)
        self.durations_ns.append(time.perf_counter_ns() - started)
        self.scroll_steps += steps

    def on_move(self, x: int, y: int) -> None:
        started = time.perf_counter_ns()
        self.tracker.on_move(x, y)
        self.durations_ns.append(time.perf_counter_ns() - started)
        self.moves += 1

    def on_uncounted_input(self) -> None:  # X11 input always comes counted; here for the protocol
        started = time.perf_counter_ns()
        self.tracker.on_uncounted_input()
        self.durations_ns.append(time.perf_counter_ns() - started)


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    number = next(n for n in range(300, 400) if not Path(f"/tmp/.X{n}-lock").exists())
    name = f":{number}"
    process = subprocess.Popen(
        ["Xvfb", name, "-screen", "0", "1920x1080x24", "-noreset", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while subprocess.run(["xdpyinfo", "-display", name], capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            process.terminate()
            raise SystemExit("Xvfb did not start")
        time.sleep(0.05)
    return process, name


def inject(display_name: str, seconds: float, rate: int) -> dict[str, int]:
    """Inject ``rate`` events per second for ``seconds``: a cycle of key, move, move, click, scroll."""
    from Xlib import XK, X
    from Xlib import display as xdisplay
    from Xlib.ext import xtest

    connection = xdisplay.Display(display_name)
    keycode = connection.keysym_to_keycode(XK.string_to_keysym("x"))
    injected = {"keys": 0, "moves": 0, "clicks": 0, "scroll_steps": 0}
    batch = max(1, rate // 100)  # send in 10 ms batches
    total = int(seconds * rate)
    started = time.perf_counter()
    sent = 0
    while sent < total:
        for _ in range(min(batch, total - sent)):
            kind = sent % 5
            if kind == 0:
                xtest.fake_input(connection, X.KeyPress, keycode)
                xtest.fake_input(connection, X.KeyRelease, keycode)
                injected["keys"] += 1
            elif kind in (1, 2):
                x = 600 if (injected["moves"] % 2) else 610
                xtest.fake_input(connection, X.MotionNotify, x=x, y=500)
                injected["moves"] += 1
            elif kind == 3:
                xtest.fake_input(connection, X.ButtonPress, 1)
                xtest.fake_input(connection, X.ButtonRelease, 1)
                injected["clicks"] += 1
            else:
                xtest.fake_input(connection, X.ButtonPress, 5)
                xtest.fake_input(connection, X.ButtonRelease, 5)
                injected["scroll_steps"] += 1
            sent += 1
        connection.sync()
        target = started + sent / rate
        pause = target - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    elapsed = time.perf_counter() - started
    connection.close()
    injected["elapsed_ms"] = round(elapsed * 1000)
    return injected


def tight_loop_median_us(calls: int = 200_000) -> dict[str, float]:
    tracker = ActivityTracker(idle_threshold_seconds=300, timezone_name="UTC")
    results: dict[str, float] = {}
    for name, call in (
        ("on_key_press", tracker.on_key_press),
        ("on_move", lambda: tracker.on_move(5, 7)),
    ):
        samples = []
        for _ in range(20):
            started = time.perf_counter_ns()
            for _ in range(calls // 20):
                call()
            samples.append((time.perf_counter_ns() - started) / (calls // 20))
        results[name] = statistics.median(samples) / 1000
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1000, help="events per second")
    arguments = parser.parse_args()

    xvfb, display_name = start_xvfb()
    os.environ["DISPLAY"] = display_name
    try:
        tracker = ActivityTracker(idle_threshold_seconds=300, timezone_name="UTC")
        sink = TimedSink(tracker)
        source = choose_input_source()
        source.start(sink)
        injected = inject(display_name, arguments.seconds, arguments.rate)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (
            sink.keys < injected["keys"]
            or sink.moves < injected["moves"]
            or sink.clicks < injected["clicks"]
            or sink.scroll_steps < injected["scroll_steps"]
        ):
            time.sleep(0.05)
        stop_started = time.monotonic()
        source.stop()
        stop_seconds = time.monotonic() - stop_started
    finally:
        xvfb.terminate()
        xvfb.wait(10)

    events_injected = injected["keys"] + injected["moves"] + injected["clicks"] + injected["scroll_steps"]
    counted = sink.keys + sink.moves + sink.clicks + sink.scroll_steps
    durations_us = sorted(value / 1000 for value in sink.durations_ns)
    p99 = durations_us[int(len(durations_us) * 0.99) - 1] if durations_us else float("nan")
    tight = tight_loop_median_us()
    print(f"injected          {events_injected} events in {injected['elapsed_ms'] / 1000:.2f} s "
          f"({events_injected / (injected['elapsed_ms'] / 1000):.0f}/s)")
    print(f"  by kind         keys {injected['keys']}, moves {injected['moves']}, "
          f"clicks {injected['clicks']}, scroll steps {injected['scroll_steps']}")
    print(f"counted           keys {sink.keys}, moves {sink.moves}, clicks {sink.clicks}, "
          f"scroll steps {sink.scroll_steps}")
    totals = tracker.today_totals("UTC")
    print(f"tracker totals    keys {totals.keys}, clicks {totals.clicks}, scroll steps {totals.scrolls}, "
          f"travel {totals.mouse_px} px")
    print(f"events lost       {events_injected - counted}")
    print(f"callback cost     median {statistics.median(durations_us):.2f} µs, p99 {p99:.2f} µs "
          f"over {len(durations_us)} calls (in the listener threads)")
    for name, value in tight.items():
        print(f"tight loop        {name}: {value:.2f} µs per call")
    print(f"listener stop     {stop_seconds * 1000:.0f} ms")


if __name__ == "__main__":
    main()
