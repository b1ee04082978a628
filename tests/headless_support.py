"""A headless agent process and the live server it talks to, for the integration tests.

``python main.py --headless`` is started as a user would run it (sign-in on stdin, output in a
file); :class:`AgentServer` is the server side those tests read back through the admin API.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from server_support import bearer, latest_code

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"


@dataclass
class AgentServer:
    """A live server with the user ann and a signed-in admin."""

    url: str
    admin_token: str
    data_dir: Path

    def samples(self, view: str = "devices", username: str = "ann") -> list[dict[str, Any]]:
        """The user's minutes of the last hour (``view``: each device's, or merged)."""
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        response = requests.get(
            f"{self.url}/api/activity",
            params={"username": username, "from": since, "view": view},
            headers=bearer(self.admin_token),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        samples: list[dict[str, Any]] = response.json()["samples"]
        return samples

    def get(self, path: str, **params: str) -> Any:
        """An admin GET of a JSON API path."""
        response = requests.get(
            f"{self.url}{path}", params=params, headers=bearer(self.admin_token), timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()

    def set_user_config(self, **values: Any) -> None:
        """Override ann's config."""
        response = requests.put(
            f"{self.url}/api/users/ann/config", json=values, headers=bearer(self.admin_token), timeout=10
        )
        assert response.status_code == 200, response.text


class AgentProcess:
    """``python main.py --headless`` as a user would run it, with its output in a file."""

    def __init__(self, env: dict[str, str], output: Path, stdin: int | None) -> None:
        self.output = output
        self.handle = output.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "main.py"), "--headless"],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=stdin,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def write(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())
        self.process.stdin.flush()

    def sign_in(self, smtp_server: Any, username: str = "ann", mails_before: int = 0) -> None:
        """Answer the terminal sign-in: name, password, then the code that arrives by SMTP."""
        self.write(username)
        self.write(PASSWORD)
        address = f"{username}@example.com"
        smtp_server.wait_for_message(address, count=mails_before + 1, timeout=20)
        self.write(latest_code(smtp_server, address))

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self._close()

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(10)
        self._close()
        return code

    def stop(self) -> None:
        """Kill the process if a test left it running (cleanup)."""
        if self.process.poll() is None:
            self.kill()

    def _close(self) -> None:
        """Close the output file and our end of stdin (pytest turns unclosed files into errors)."""
        self.handle.close()
        if self.process.stdin is not None:
            self.process.stdin.close()


def agent_env(display: Any, tmp_path: Path, server: AgentServer, name: str = "agent") -> dict[str, str]:
    """The environment of an agent on ``display`` with its own folder under ``tmp_path``."""
    return {
        **display.env(),
        "HOME": str(tmp_path / f"{name}-home"),
        "VINOVA_AGENT_DIR": str(tmp_path / name),
        "VINOVA_SERVER_URL": server.url,
        "PYTHONUNBUFFERED": "1",
    }


def xdotool(*args: str, display: str | None = None) -> None:
    """Run xdotool (on ``display`` when given, else the session's DISPLAY)."""
    prefix = ["env", f"DISPLAY={display}"] if display else []
    subprocess.run([*prefix, "xdotool", *args], check=True, capture_output=True, timeout=60)


def minute(sample: dict[str, Any]) -> datetime:
    """A sample's minute as a datetime."""
    return datetime.fromisoformat(sample["minute_start"])
