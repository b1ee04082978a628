"""The headless agent on a headless sway (only WAYLAND_DISPLAY, no DISPLAY) against a real server.

Activity comes from the compositor's idle notification (sway 1.7: org_kde_kwin_idle) driven by
``wtype``; this machine has no /dev/input, so the minutes carry null counts. Captures go through grim.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from headless_support import AgentServer, minute
from PIL import Image, ImageDraw, ImageStat
from server_support import add_user, latest_code, make_app, sign_in
from support import live_server, wait_until
from wayland_support import OUTPUT_SIZE, Sway, missing_tools, running_sway

from agent.adapters.wayland_choice import MODE_UNCOUNTED
from agent.session import SavedSession, save_session

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
IDLE_THRESHOLD_SECONDS = 30  # the smallest the config allows

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(missing_tools()),
                       reason=f"needs {', '.join(missing_tools())} (scripts/install-apt.sh installs them)"),
]


def picture(size: tuple[int, int]) -> Image.Image:
    image = Image.new("RGB", size, (240, 240, 230))
    draw = ImageDraw.Draw(image)
    for left in range(0, size[0], 64):
        draw.rectangle((left, 0, left + 31, size[1]), fill=(20 + left % 200, 110, 170))
    return image


@pytest.fixture
def sway(tmp_path: Path) -> Iterator[Sway]:
    background = tmp_path / "background.png"
    picture(OUTPUT_SIZE).save(background)
    with running_sway(background) as running:
        yield running


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[AgentServer, str]]:
    data_dir = tmp_path / "server"
    app = make_app(f"sqlite:///{tmp_path / 'server.db'}", data_dir)
    add_user(app, "ann", "ann@example.com", PASSWORD)
    add_user(app, "boss", "boss@example.com", PASSWORD, admin=True)
    with live_server(app) as url:
        admin = sign_in(url, "boss", PASSWORD, lambda: latest_code(data_dir, "boss@example.com"))
        user = sign_in(url, "ann", PASSWORD, lambda: latest_code(data_dir, "ann@example.com"))
        yield AgentServer(url, admin, data_dir), user


def type_for_a_while(sway: Sway, words: int = 4) -> None:
    for _ in range(words):
        assert sway.run("wtype", "-d", "40", "quiet words").returncode == 0


def test_the_agent_on_sway_follows_wtype_turns_idle_sends_null_counts_and_uploads_the_screen(
    sway: Sway, server: tuple[AgentServer, str], tmp_path: Path
) -> None:
    running, user_token = server
    agent_dir = tmp_path / "agent"
    save_session(agent_dir, SavedSession(running.url, "ann", user_token, "2099-01-01T00:00:00+00:00"))
    running.set_user_config(config_poll_interval=5, screenshot_interval=10,
                            idle_threshold=IDLE_THRESHOLD_SECONDS)
    env = {**sway.environ, "HOME": str(tmp_path / "home"), "VINOVA_AGENT_DIR": str(agent_dir),
           "VINOVA_SERVER_URL": running.url, "PYTHONUNBUFFERED": "1"}
    assert "DISPLAY" not in env
    output = tmp_path / "agent.out"

    def text() -> str:
        return output.read_text(encoding="utf-8", errors="replace")

    with output.open("wb") as handle:
        process = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "main.py"), "--headless"],
                                   cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=handle, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: MODE_UNCOUNTED in text() or process.poll() is not None, 30,
                       message="the agent to say keys are not counted")
            assert process.poll() is None, text()
            assert "idle time from the compositor's org_kde_kwin_idle" in text()

            # A capture of the output's size showing the drawn screen.
            items = wait_until(lambda: screenshots(running), 60, interval=0.5, message="a first capture")
            first = items[0]
            assert (first["width"], first["height"]) == OUTPUT_SIZE
            link = f"{running.url}{first['url']}" if first["url"].startswith("/") else first["url"]
            image = Image.open(io.BytesIO(requests.get(link, timeout=10).content)).convert("RGB")
            assert image.size == OUTPUT_SIZE
            assert max(ImageStat.Stat(image).stddev) > 20, "the capture is not blank"

            # Idle after the threshold without input: the log says so, then a whole idle minute arrives.
            wait_until(lambda: f"idle: no input for {IDLE_THRESHOLD_SECONDS} s" in text(), 90,
                       interval=0.5, message="the agent to turn idle")
            idle_samples = wait_until(lambda: [s for s in running.samples() if s["state"] == "idle"], 150,
                                      interval=1, message="an idle minute on the server")
            # Tracking again at the next wtype, and that minute's active seconds reach the server.
            typed_at = datetime.now(UTC).replace(second=0, microsecond=0)
            type_for_a_while(sway)
            wait_until(lambda: "tracking" in text().split("idle: no input for", 1)[1], 20, interval=0.5,
                       message="input again after idle")
            typed_minute_samples = wait_until(lambda: typed_minutes(running, typed_at), 130, interval=1,
                                              message="the typed minute's active seconds on the server")
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(15)
    assert typed_minute_samples and idle_samples
    for sample in running.samples():
        assert [sample[field] for field in ("keys", "clicks", "scrolls", "mouse_px")] == [None] * 4, sample
    assert all(1 <= s["active_seconds"] <= 60 for s in typed_minute_samples)
    assert all(s["active_seconds"] == 0 for s in idle_samples)
    assert "quiet words" not in text()


def typed_minutes(running: AgentServer, since: datetime) -> list[dict[str, Any]]:
    return [sample for sample in running.samples() if minute(sample) >= since
            and sample["state"] == "tracking" and sample["active_seconds"] > 0]


def screenshots(running: AgentServer) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = running.get("/api/screenshots", username="ann")["screenshots"]
    return found
