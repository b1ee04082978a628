"""What `make run` starts, as a new user meets it on a machine without a display.

scripts/run.py starts the server on embedded defaults, prints the first admin's credentials and,
since no SMTP is set, every emailed code; the agent asks for them on the terminal.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import free_port, port_open, wait_until

PROJECT_DIR = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_make_run_serves_prints_credentials_and_codes_and_signs_the_agent_in(tmp_path: Path) -> None:
    port = free_port()
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("VINOVA_", "SMTP_", "MAIL_", "S3_")) and k != "DISPLAY"}
    environment.update({"VINOVA_DATA_DIR": str(tmp_path / "data"), "VINOVA_ENV_FILE": "",
                        "VINOVA_AGENT_DIR": str(tmp_path / "agent"), "HOME": str(tmp_path / "home"),
                        "PYTHONUNBUFFERED": "1"})
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
