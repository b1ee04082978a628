"""One version string (``--version``, every request's User-Agent) and the no-input setting."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from support import live_server

from agent.client import ServerClient
from agent.settings import AgentSettings
from agent.version import __version__, user_agent
from contract.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parents[2]


def test_the_version_is_one_dotted_string() -> None:
    parts = __version__.split(".")
    assert len(parts) == 3 and all(part.isdigit() for part in parts)
    assert user_agent() == f"vinova/{__version__}"


def test_main_prints_vinova_and_its_version() -> None:
    result = subprocess.run([sys.executable, str(PROJECT_DIR / "main.py"), "--version"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == f"vinova {__version__}"


def test_every_request_names_the_agent_and_its_version() -> None:
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(environ.get("HTTP_USER_AGENT", ""))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"username": "ann"}']

    with live_server(app) as url:
        client = ServerClient(url, token="t")
        client.whoami()
    assert seen == [f"vinova/{__version__}"]


@pytest.mark.parametrize(("word", "expected"), [("true", True), ("1", True), ("on", True), ("no", False)])
def test_allow_no_input_reads_plain_true_and_false(word: str, expected: bool, tmp_path: Path) -> None:
    settings = AgentSettings.load(environ={"VINOVA_ALLOW_NO_INPUT": word}, dotenv_paths=())
    assert settings.allow_no_input is expected


def test_allow_no_input_refuses_other_words_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        AgentSettings.load(environ={"VINOVA_ALLOW_NO_INPUT": "maybe"}, dotenv_paths=())
    assert "VINOVA_ALLOW_NO_INPUT" in caught.value.errors


def test_the_flag_wins_over_the_environment() -> None:
    settings = AgentSettings.load(environ={"VINOVA_ALLOW_NO_INPUT": "false"}, flags={"allow_no_input": True},
                                  dotenv_paths=())
    assert settings.allow_no_input is True
    unset = AgentSettings.load(environ={}, flags={"allow_no_input": None}, dotenv_paths=())
    assert unset.allow_no_input is False
