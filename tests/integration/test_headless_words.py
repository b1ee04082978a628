"""What ``main.py --headless`` says when it cannot do its job: no input to track, a wrong password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from headless_support import AgentServer
from support import free_port

pytestmark = pytest.mark.integration

PROJECT_DIR = Path(__file__).resolve().parents[2]


def headless(tmp_path: Path, server_url: str, *flags: str, stdin: str = "",
             **variables: str) -> subprocess.CompletedProcess[str]:
    """One headless start without a display, its answers on stdin."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("VINOVA_") and key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    environment.update({"VINOVA_AGENT_DIR": str(tmp_path / "agent"), "HOME": str(tmp_path / "home"),
                        "VINOVA_SERVER_URL": server_url, **variables})
    return subprocess.run([sys.executable, str(PROJECT_DIR / "main.py"), "--headless", *flags],
                          cwd=tmp_path, env=environment, input=stdin, capture_output=True, text=True,
                          timeout=90)


def test_without_a_display_it_stops_plainly_instead_of_tracking_nothing(tmp_path: Path) -> None:
    result = headless(tmp_path, f"http://127.0.0.1:{free_port()}", stdin="ann\n")
    assert result.returncode == 7
    assert "Vinova cannot track keyboard and mouse activity here" in result.stdout
    assert "--allow-no-input" in result.stdout
    assert "Username:" not in result.stdout and "Traceback" not in result.stderr


def test_a_wrong_password_is_said_once_in_plain_words(tmp_path: Path, agent_server: AgentServer) -> None:
    answers = "ann\nwrong one\n" * 3
    result = headless(tmp_path, agent_server.url, stdin=answers, VINOVA_ALLOW_NO_INPUT="true")
    assert result.returncode == 2
    assert "Sign-in failed: wrong username or password" in result.stdout
    assert result.stdout.lower().count("sign-in failed") == 1
    assert "wrong one" not in result.stdout + result.stderr


def test_allow_no_input_lets_it_sign_in_without_a_display(tmp_path: Path) -> None:
    result = headless(tmp_path, f"http://127.0.0.1:{free_port()}", "--allow-no-input", stdin="")
    assert "Username:" in result.stdout
    assert "cannot track keyboard and mouse" not in result.stdout
    assert result.returncode == 2  # nobody answered the prompt: a sign-in failure, said plainly
    assert "Sign-in failed: no answer on standard input" in result.stdout
