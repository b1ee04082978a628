"""Email-OTP sign-in end to end: real HTTP, a real SMTP server, the file outbox, the real commands."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import SmtpCapture
from server_support import add_user, latest_code, make_app, sign_in, smtp_settings
from support import free_port, live_server, port_open, wait_until

from server.context import services_of

pytestmark = pytest.mark.integration

PROJECT_DIR = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def test_the_code_mailed_over_smtp_signs_in_over_http(
    database_url: str, tmp_path: Path, smtp_server: SmtpCapture
) -> None:
    app = make_app(database_url, tmp_path, **smtp_settings(smtp_server))
    add_user(app, "ann", "ann@example.com", PASSWORD)
    try:
        with live_server(app) as base_url:
            login = requests.post(f"{base_url}/auth/login", json={"username": "ann", "password": PASSWORD},
                                  timeout=30)
            assert login.status_code == 200 and login.json()["sent_to"] == "a***@example.com"
            message = smtp_server.wait_for_message("ann@example.com")
            assert message["From"] == "vinova@example.com"
            body = message.get_payload(decode=True)
            assert isinstance(body, bytes)
            code = re.search(rb"\b(\d{6})\b", body)
            assert code is not None
            verify = requests.post(
                f"{base_url}/auth/verify",
                json={"challenge_id": login.json()["challenge_id"], "code": code.group(1).decode()},
                timeout=30,
            )
            assert verify.status_code == 200
            token = verify.json()["token"]
            config = requests.get(f"{base_url}/get-config", headers={"Authorization": f"Bearer {token}"},
                                  timeout=30)
            assert config.status_code == 200 and config.json()["screenshot_interval"] == 300
            # The shared helper does the same in one call.
            again = sign_in(base_url, "ann", PASSWORD, lambda: latest_code(smtp_server, "ann@example.com"))
            assert again != token
            assert len(smtp_server.messages_to("ann@example.com")) == 2
    finally:
        services_of(app).database.dispose()


def test_without_smtp_host_the_code_is_a_private_eml_file_and_the_log_says_where(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(database_url, tmp_path)
    add_user(app, "bob", "bob@example.com", PASSWORD)
    try:
        with caplog.at_level("INFO"):
            client = app.test_client()
            token = sign_in(client, "bob", PASSWORD, lambda: latest_code(tmp_path, "bob@example.com"))
        (mail,) = (tmp_path / "outbox").glob("*.eml")
        assert stat.S_IMODE(mail.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "outbox").stat().st_mode) == 0o700
        code = latest_code(tmp_path, "bob@example.com")
        logged = "\n".join(record.getMessage() for record in caplog.records)
        assert str(mail) in logged
        assert code not in logged and token not in logged and PASSWORD not in logged
    finally:
        services_of(app).database.dispose()


def _environment(data_dir: Path) -> dict[str, str]:
    environment = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("VINOVA_", "SMTP_", "MAIL_"))
    }
    environment.update({"VINOVA_DATA_DIR": str(data_dir), "VINOVA_ENV_FILE": "", "PYTHONUNBUFFERED": "1"})
    return environment


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """``python scripts/run.py --server-only`` (the server of ``make run``); yields (url, data dir, log)."""
    data_dir = tmp_path / "data"
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "scripts/run.py", "--server-only", "--port", str(port)],
            cwd=PROJECT_DIR, env=_environment(data_dir), stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: port_open(port) or process.poll() is not None, timeout=60, message="server")
            assert process.poll() is None, log_path.read_text()
            yield f"http://127.0.0.1:{port}", data_dir, log_path
        finally:
            process.terminate()
            process.wait(15)


def test_make_run_creates_the_first_admin_who_signs_in_with_the_outbox_code(
    served: tuple[str, Path, Path],
) -> None:
    base_url, data_dir, log_path = served
    printed = log_path.read_text()
    name = re.search(r"username: (\S+)", printed)
    password = re.search(r"password: (\S+)", printed)
    assert name is not None and password is not None
    token = sign_in(base_url, name.group(1), password.group(1), lambda: latest_code(data_dir, "admin@"))
    response = requests.put(
        f"{base_url}/api/config", json={"screenshot_interval": 120},
        headers={"Authorization": f"Bearer {token}"}, timeout=30,
    )
    assert response.status_code == 200 and response.json()["config"]["screenshot_interval"] == 120
    assert "outbox" in log_path.read_text()
    assert stat.S_IMODE((data_dir / "secret_key").stat().st_mode) == 0o600
    assert (data_dir / "vinova.db").is_file()


def test_the_first_admin_password_is_printed_only_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    script = (
        "import sys; sys.argv=['run']; sys.path.insert(0, '.'); sys.path.insert(0, 'scripts');"
        "import run; from app import create_app;"
        "app = create_app(); print(run.ensure_first_admin(app)); print(run.ensure_first_admin(app))"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_DIR, env=_environment(data_dir),
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.splitlines()
    assert output[0].startswith("('admin', ") and output[1] == "None"


def test_the_flask_cli_creates_and_lists_users(tmp_path: Path) -> None:
    environment = _environment(tmp_path / "data")
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    created = subprocess.run(
        [*flask, "create-user", "ann", "--email", "ann@example.com", "--admin", "--password-stdin"],
        cwd=PROJECT_DIR, env=environment, input="a long password\n", capture_output=True, text=True,
        timeout=60, check=False,
    )
    assert created.returncode == 0, created.stderr
    disabled = subprocess.run([*flask, "disable-user", "ann"], cwd=PROJECT_DIR, env=environment,
                              capture_output=True, text=True, timeout=60, check=False)
    assert disabled.returncode == 0, disabled.stderr
    listed = subprocess.run([*flask, "list-users"], cwd=PROJECT_DIR, env=environment,
                            capture_output=True, text=True, timeout=60, check=True)
    assert "ann\tann@example.com\tadmin, disabled" in listed.stdout
    assert "a long password" not in listed.stdout + listed.stderr


def test_python_app_py_serves_with_waitress(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "app.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)], cwd=PROJECT_DIR,
            env=_environment(tmp_path / "data"), stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: port_open(port) or process.poll() is not None, timeout=60, message="app.py")
            response = requests.get(f"http://127.0.0.1:{port}/get-config", timeout=10)
            assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
            assert response.headers["Server"] == "waitress"
        finally:
            process.terminate()
            process.wait(15)
