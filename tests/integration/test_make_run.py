"""What `make run` starts, as a new user meets it on a machine without a display.

scripts/run.py starts the server on embedded defaults, prints the first admin's credentials and,
since no SMTP is set, every emailed code; the agent asks for them on the terminal.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from support import free_port, port_open, wait_until

PROJECT_DIR = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def run_environment(tmp_path: Path) -> dict[str, str]:
    """A new user's terminal without a display; every file under tmp_path."""
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("VINOVA_", "SMTP_", "MAIL_", "S3_", "MAKE")) and k != "DISPLAY"}
    environment.update({"VINOVA_DATA_DIR": str(tmp_path / "data"), "VINOVA_ENV_FILE": "",
                        "VINOVA_AGENT_DIR": str(tmp_path / "agent"), "HOME": str(tmp_path / "home"),
                        "PYTHONUNBUFFERED": "1"})
    return environment


def test_make_run_serves_prints_credentials_and_codes_and_signs_the_agent_in(tmp_path: Path) -> None:
    port = free_port()
    environment = run_environment(tmp_path)
    output = tmp_path / "terminal.txt"
    with output.open("wb") as terminal:
        process = subprocess.Popen([sys.executable, "scripts/run.py", "--port", str(port)], cwd=PROJECT_DIR,
                                   env=environment, stdin=subprocess.PIPE, stdout=terminal,
                                   stderr=subprocess.STDOUT)
        assert process.stdin is not None
        try:
            text = wait_until(lambda: (lambda t: t if "Username:" in t else "")(output.read_text()), 90,
                              message="the agent's sign-in prompt")
            assert "No display here: running the agent in the terminal" in text
            assert port_open(port)
            username = re.search(r"username: (\S+)", text)
            password = re.search(r"password: (\S+)", text)
            assert username is not None and password is not None
            process.stdin.write(f"{username.group(1)}\n{password.group(1)}\n".encode())
            process.stdin.flush()
            code = wait_until(lambda: re.search(r"Sign-in code for .*: (\d{6})", output.read_text()), 30,
                              message="the code printed from the outbox")
            assert code is not None
            process.stdin.write(f"{code.group(1)}\n".encode())
            process.stdin.flush()
            wait_until(lambda: "agent started for admin" in output.read_text(), 30, message="the agent")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(20)
            process.stdin.close()
    wait_until(lambda: not port_open(port), 10, message="the server to stop with make run")
    assert password.group(1) not in output.read_text().split("password:", 1)[1].split("\n", 2)[2]


def test_make_run_names_a_taken_port_and_never_attaches_to_the_other_server(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other_program:
        other_program.bind(("127.0.0.1", 0))
        other_program.listen()
        port = other_program.getsockname()[1]
        result = subprocess.run(["make", "--no-print-directory", "run", f"PORT={port}"], cwd=PROJECT_DIR,
                                env=run_environment(tmp_path), stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=120)
    assert result.returncode != 0
    said = result.stdout + result.stderr
    suggestion = re.search(rf"port {port} is in use by another program; try make run PORT=(\d+)", said)
    assert suggestion is not None, said
    assert int(suggestion.group(1)) != port
    assert "Vinova server:" not in said and "Username:" not in said
    assert not (tmp_path / "data" / "server.log").exists()


def test_make_run_on_another_port_says_so_when_its_server_dies(tmp_path: Path) -> None:
    port = free_port()
    output = tmp_path / "terminal.txt"
    with output.open("wb") as terminal:
        process = subprocess.Popen(["make", "--no-print-directory", "run", f"PORT={port}"], cwd=PROJECT_DIR,
                                   env=run_environment(tmp_path), stdin=subprocess.PIPE, stdout=terminal,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: "Username:" in output.read_text(), 90, message="the agent's sign-in prompt")
        assert f"Vinova server: http://127.0.0.1:{port}" in output.read_text()
        servers = [child for child in psutil.Process(process.pid).children(recursive=True)
                   if any(part.endswith("app.py") for part in child.cmdline())]
        assert len(servers) == 1
        servers[0].kill()
        wait_until(lambda: "The Vinova server stopped" in output.read_text(), 20,
                   message="the terminal saying the server stopped")
        assert not port_open(port)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        assert process.stdin is not None
        process.stdin.close()


def test_make_run_refuses_a_port_that_is_not_one(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "scripts/run.py", "--port", "70000"], cwd=PROJECT_DIR,
                            env=run_environment(tmp_path), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "'70000' is not a port: use a number from 1 to 65535" in result.stderr
    assert "Traceback" not in result.stderr
