"""Captures from the headless agent reach the server's store (server-local mode, as `make run` serves)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from server_support import add_user, bearer, latest_code, make_app, sign_in
from support import free_port, live_server, wait_until

from agent.session import SavedSession, save_session

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.integration


@dataclass
class Server:
    url: str
    admin_token: str
    data_dir: Path

    def screenshots(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/api/screenshots", params={"username": "ann"},
                                headers=bearer(self.admin_token), timeout=10)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["screenshots"]
        return items

    def set_user_config(self, **values: Any) -> None:
        response = requests.put(f"{self.url}/api/users/ann/config", json=values,
                                headers=bearer(self.admin_token), timeout=10)
        assert response.status_code == 200, response.text


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    data_dir = tmp_path / "server"
    app = make_app(f"sqlite:///{tmp_path / 'server.db'}", data_dir)
    add_user(app, "ann", "ann@example.com", PASSWORD)
    add_user(app, "boss", "boss@example.com", PASSWORD, admin=True)
    with live_server(app) as url:
        admin = sign_in(url, "boss", PASSWORD, lambda: latest_code(data_dir, "boss@example.com"))
        user = sign_in(url, "ann", PASSWORD, lambda: latest_code(data_dir, "ann@example.com"))
        yield Server(url, admin, data_dir), user


def test_headless_captures_land_in_the_server_store_and_follow_live_config(
    server: tuple[Server, str], xvfb: Any, tmp_path: Path
) -> None:
    running, user_token = server
    agent_dir = tmp_path / "agent"
    save_session(agent_dir, SavedSession(running.url, "ann", user_token, "2099-01-01T00:00:00+00:00"))
    running.set_user_config(config_poll_interval=5, screenshot_interval=10, blur_screenshots=True)
    env = {**xvfb.env(), "HOME": str(tmp_path / "home"), "VINOVA_AGENT_DIR": str(agent_dir),
           "VINOVA_SERVER_URL": running.url}
    output = tmp_path / "agent.out"
    with output.open("wb") as handle:
        process = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "main.py"), "--headless"],
                                   cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=handle, stderr=subprocess.STDOUT)
        try:
            items = wait_until(lambda: running.screenshots(), 40, interval=0.5, message="a first capture")
            first = items[0]
            assert first["blurred"] is True and (first["width"], first["height"]) == (1920, 1080)
            stored = running.data_dir / "screenshots" / first["key"]
            assert stored.is_file() and stored.stat().st_size == first["size_bytes"]
            link = f"{running.url}{first['url']}" if first["url"].startswith("/") else first["url"]
            assert requests.get(link, timeout=10).content == stored.read_bytes()

            running.set_user_config(capture_enabled=False)
            wait_until(lambda: "capture_enabled true → false" in output.read_text(), 20,
                       message="capture switched off")
            count_when_off = len(running.screenshots())
            wait_until(lambda: "screenshot skipped: capture is disabled" in output.read_text(), 25,
                       message="a skipped capture")
            assert len(running.screenshots()) <= count_when_off + 1  # one may have been in flight

            running.set_user_config(capture_enabled=True)
            wait_until(lambda: len(running.screenshots()) > count_when_off + 1, 40, interval=0.5,
                       message="captures again after switching back on")
        finally:
            process.terminate()
            process.wait(10)
    assert process.returncode == 0
    assert "uploads: through URLs signed by" in output.read_text()


def test_captures_wait_while_the_server_is_down_and_drain_when_it_returns(xvfb: Any, tmp_path: Path) -> None:
    data_dir = tmp_path / "server"
    app = make_app(f"sqlite:///{tmp_path / 'server.db'}", data_dir)
    add_user(app, "ann", "ann@example.com", PASSWORD)
    add_user(app, "boss", "boss@example.com", PASSWORD, admin=True)
    port = free_port()
    agent_dir = tmp_path / "agent"
    output = tmp_path / "agent.out"
    with live_server(app, port) as url:
        admin = sign_in(url, "boss", PASSWORD, lambda: latest_code(data_dir, "boss@example.com"))
        user = sign_in(url, "ann", PASSWORD, lambda: latest_code(data_dir, "ann@example.com"))
        running = Server(url, admin, data_dir)
        running.set_user_config(config_poll_interval=5, screenshot_interval=10)
        save_session(agent_dir, SavedSession(url, "ann", user, "2099-01-01T00:00:00+00:00"))
        env = {**xvfb.env(), "HOME": str(tmp_path / "home"), "VINOVA_AGENT_DIR": str(agent_dir),
               "VINOVA_SERVER_URL": url}
        handle = output.open("wb")
        process = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "main.py"), "--headless"],
                                   cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=handle, stderr=subprocess.STDOUT)
        wait_until(lambda: running.screenshots(), 40, interval=0.5, message="a first capture online")
    try:
        # The server is gone: captures keep being taken and wait in the spool.
        spool = agent_dir / "spool"
        wait_until(lambda: len(list(spool.glob("*.jpg"))) >= 2, 60, interval=0.5,
                   message="captures waiting in the spool while offline")
        waiting = {path.name.split("T", 1)[1] for path in spool.glob("*.jpg")}  # spool names carry the date
        with live_server(app, port):
            wait_until(lambda: {Path(item["key"]).name for item in running.screenshots()} >= waiting, 120,
                       interval=1, message="the waiting captures to drain after the server returned")
    finally:
        process.terminate()
        process.wait(10)
        handle.close()
    assert process.returncode == 0
    text = output.read_text()
    assert "screenshot taken" in text
