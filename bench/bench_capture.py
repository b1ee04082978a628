"""Capture + blur + JPEG encode on a text-heavy Xvfb screen at 1920x1080 and 3840x2160.

Starts its own Xvfb per resolution, fills the screen with 11 pt text (a document/mail look),
and prints the median milliseconds of grab, blur, encode and the total, plus the file size.
Run: .venv/bin/python bench/bench_capture.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
import tkinter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.adapters.screen import choose_grabber
from screenshot_manager import blur_image, encode_jpeg

WORDS = (
    "invoice salary quarterly confidential customer payroll revenue contract meeting password "
    "account transfer balance pension medical diagnosis lawyer mortgage passport address"
).split()


def start_xvfb(width: int, height: int) -> tuple[subprocess.Popen[bytes], str]:
    number = next(n for n in range(200, 300) if not Path(f"/tmp/.X{n}-lock").exists())
    display = f":{number}"
    process = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", f"{width}x{height}x24", "-noreset", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while subprocess.run(["xdpyinfo", "-display", display], capture_output=True, check=False).returncode:
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("Xvfb did not start")
        time.sleep(0.1)
    return process, display


def paint_text(display: str, width: int, height: int) -> tkinter.Tk:
    rng = random.Random(1)
    root = tkinter.Tk(screenName=display)
    root.overrideredirect(True)
    root.geometry(f"{width}x{height}+0+0")
    text = tkinter.Text(root, font=("DejaVu Sans", 11), wrap="word", borderwidth=0, background="#fdfdfd")
    text.place(x=0, y=0, relwidth=1, relheight=1)
    lines = height // 16 + 2
    words_per_line = width // 60
    body = "\n".join(" ".join(rng.choice(WORDS) for _ in range(words_per_line)) for _ in range(lines))
    text.insert("1.0", body)
    for index in range(0, lines, 7):
        text.tag_add("heading", f"{index + 1}.0", f"{index + 1}.end")
    text.tag_configure("heading", font=("DejaVu Sans", 16, "bold"), foreground="#1a4d8f")
    for _ in range(5):
        root.update()
    return root


def measure(display: str, rounds: int, quality: int) -> dict[str, float]:
    grab = choose_grabber(display)
    names = ("grab", "blur", "encode", "total", "total_plain")
    figures: dict[str, list[float]] = {name: [] for name in names}
    sizes: dict[str, list[int]] = {"blurred": [], "plain": []}
    for _ in range(rounds):
        start = time.perf_counter()
        image = grab()
        grabbed = time.perf_counter()
        blurred = blur_image(image)
        blurred_at = time.perf_counter()
        data = encode_jpeg(blurred, quality)
        done = time.perf_counter()
        figures["grab"].append(grabbed - start)
        figures["blur"].append(blurred_at - grabbed)
        figures["encode"].append(done - blurred_at)
        figures["total"].append(done - start)
        sizes["blurred"].append(len(data))
        start = time.perf_counter()
        plain = encode_jpeg(grab(), quality)
        figures["total_plain"].append(time.perf_counter() - start)
        sizes["plain"].append(len(plain))
    result = {f"{name}_ms": statistics.median(values) * 1000 for name, values in figures.items()}
    result["blurred_kb"] = statistics.median(sizes["blurred"]) / 1024
    result["plain_kb"] = statistics.median(sizes["plain"]) / 1024
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--quality", type=int, default=70)
    parser.add_argument("--size", help="one resolution WxH (used internally: one process per X server)")
    arguments = parser.parse_args()
    if arguments.size is None:
        print(f"capture benchmark: median of {arguments.rounds} rounds, JPEG quality {arguments.quality}")
        for size in ("1920x1080", "3840x2160"):
            # Tk keeps its X connection until the process ends: one process per X server.
            command = [sys.executable, __file__, "--size", size, "--rounds", str(arguments.rounds)]
            subprocess.run([*command, "--quality", str(arguments.quality)], check=True)
        return 0
    width, height = (int(part) for part in arguments.size.split("x"))
    process, display = start_xvfb(width, height)
    try:
        paint_text(display, width, height)
        figures = measure(display, arguments.rounds, arguments.quality)
    finally:
        process.terminate()
        process.wait(10)
    print(
        f"{width}x{height}: grab {figures['grab_ms']:.1f} ms + blur {figures['blur_ms']:.1f} ms"
        f" + encode {figures['encode_ms']:.1f} ms = {figures['total_ms']:.1f} ms"
        f" (blurred file {figures['blurred_kb']:.0f} KB);"
        f" without blur {figures['total_plain_ms']:.1f} ms (file {figures['plain_kb']:.0f} KB)",
        flush=True,
    )
    # Leave without tearing down Tk: its X server is gone and Xlib would abort on the dead connection.
    os._exit(0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
