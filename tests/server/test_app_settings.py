"""Server settings: layering, clear errors naming the variable, the generated secret key, .env.example."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from contract.errors import ConfigError
from server import settings as server_settings
from server.settings import load_settings

PROJECT_DIR = Path(__file__).resolve().parents[2]


def test_defaults_then_env_file_then_environment_then_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "settings.env"
    env_file.write_text("VINOVA_TOKEN_TTL=3600\nSMTP_PORT=2525\nMAIL_FROM=file@example.com\n")
    monkeypatch.setenv("SMTP_PORT", "2626")
    monkeypatch.delenv("VINOVA_MAX_BODY_BYTES", raising=False)
    settings = load_settings(
        {"VINOVA_ENV_FILE": str(env_file), "VINOVA_DATA_DIR": str(tmp_path / "data"),
         "MAIL_FROM": "override@example.com", "VINOVA_SECRET_KEY": "s" * 32}
    )
    assert settings.token_ttl_seconds == 3600  # from the file
    assert settings.smtp.port == 2626  # the environment beats the file
    assert settings.smtp.mail_from == "override@example.com"  # overrides beat everything
    assert settings.max_body_bytes == server_settings.DEFAULT_MAX_BODY_BYTES
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'vinova.db'}"
    assert settings.smtp.host is None
    assert "s" * 32 not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [("VINOVA_TOKEN_TTL", "soon"), ("SMTP_PORT", "70000"), ("SMTP_STARTTLS", "maybe"),
     ("MAIL_FROM", "nobody"), ("VINOVA_DATABASE_URL", "vinova.db"), ("VINOVA_SECRET_KEY", "short"),
     ("VINOVA_LOG_LEVEL", "LOUD")],
)
def test_an_invalid_setting_is_an_error_naming_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"VINOVA_ENV_FILE": "", "VINOVA_DATA_DIR": str(tmp_path), name: value})
    assert set(caught.value.errors) == {name}


def test_the_secret_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    overrides = {"VINOVA_ENV_FILE": "", "VINOVA_DATA_DIR": str(tmp_path / "data")}
    assert load_settings(overrides).secret_key == ""  # loading alone writes nothing
    assert not (tmp_path / "data").exists()
    first = server_settings.provision_secret_key(load_settings(overrides)).secret_key
    second = server_settings.provision_secret_key(load_settings(overrides)).secret_key
    assert first == second and len(first) == 64
    key_file = tmp_path / "data" / server_settings.SECRET_KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_reading_settings_writes_nothing_when_a_secret_key_is_given(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    load_settings({"VINOVA_ENV_FILE": "", "VINOVA_DATA_DIR": str(data_dir), "VINOVA_SECRET_KEY": "k" * 20})
    assert not (tmp_path / "data").exists()


def test_env_example_lists_every_server_variable_with_a_comment() -> None:
    lines = (PROJECT_DIR / ".env.example").read_text().splitlines()
    for name in server_settings.DEFAULTS:
        index = next((i for i, line in enumerate(lines) if line.startswith(f"{name}=")), None)
        assert index is not None, f"{name} missing from .env.example"
        assert lines[index - 1].startswith("# "), f"{name} has no comment line"


# --------------------------------------------------------------------------- several nodes (issue 14)
POSTGRES_URL = "postgresql+psycopg://vinova@127.0.0.1:1/vinova"


def test_a_non_sqlite_database_without_a_secret_key_is_refused_naming_the_variable(tmp_path: Path) -> None:
    from app import create_app

    with pytest.raises(ConfigError) as caught:
        create_app({"VINOVA_ENV_FILE": "", "VINOVA_DATA_DIR": str(tmp_path / "data"),
                    "VINOVA_DATABASE_URL": POSTGRES_URL, "VINOVA_SECRET_KEY": ""})
    assert set(caught.value.errors) == {"VINOVA_SECRET_KEY"}
    assert "not SQLite" in caught.value.errors["VINOVA_SECRET_KEY"]
    assert not (tmp_path / "data" / server_settings.SECRET_KEY_FILE_NAME).exists()  # none generated


def test_sqlite_without_a_secret_key_still_starts(tmp_path: Path) -> None:
    settings = load_settings({"VINOVA_ENV_FILE": "", "VINOVA_DATA_DIR": str(tmp_path / "data"),
                              "VINOVA_SECRET_KEY": ""})
    assert settings.secret_key == "" and settings.database_url.startswith("sqlite:")


def test_python_app_py_without_a_secret_key_on_postgresql_exits_with_a_plain_message(tmp_path: Path) -> None:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("VINOVA_", "SMTP_", "MAIL_", "S3_"))}
    environment.update({"VINOVA_ENV_FILE": "", "VINOVA_DATA_DIR": str(tmp_path / "data"),
                        "VINOVA_DATABASE_URL": POSTGRES_URL})
    finished = subprocess.run(
        [sys.executable, "app.py", "--port", "1"], cwd=PROJECT_DIR, env=environment, capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert finished.returncode != 0
    assert "VINOVA_SECRET_KEY" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert finished.stdout == ""


@pytest.mark.parametrize("threads", ["0", "11", "many"])
def test_python_app_py_refuses_a_thread_count_outside_one_to_the_database_pool_size(
    threads: str, tmp_path: Path,
) -> None:
    finished = subprocess.run(
        [sys.executable, "app.py", "--threads", threads], cwd=PROJECT_DIR, capture_output=True, text=True,
        timeout=60, check=False, env={**os.environ, "VINOVA_ENV_FILE": "", "VINOVA_DATA_DIR": str(tmp_path)},
    )
    assert finished.returncode == 2
    assert "--threads" in finished.stderr and "Traceback" not in finished.stderr
    assert not (tmp_path / "vinova.db").exists()  # refused before anything was opened


def test_workers_starting_together_all_get_the_one_generated_secret_key(tmp_path: Path) -> None:
    overrides = {"VINOVA_ENV_FILE": "", "VINOVA_DATA_DIR": str(tmp_path / "data")}
    worker_count = 16
    barrier = threading.Barrier(worker_count)
    keys: list[str] = []
    failures: list[BaseException] = []

    def worker() -> None:
        settings = load_settings(overrides)
        barrier.wait()
        try:
            keys.append(server_settings.provision_secret_key(settings).secret_key)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(worker_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert failures == []
    assert len(keys) == worker_count and len(set(keys)) == 1 and len(keys[0]) == 64
    names = sorted(path.name for path in (tmp_path / "data").iterdir())
    assert names == [server_settings.SECRET_KEY_FILE_NAME]  # no draft left behind


def test_an_empty_secret_key_file_is_refused_naming_the_variable(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / server_settings.SECRET_KEY_FILE_NAME).write_text("\n")
    with pytest.raises(ConfigError) as caught:
        server_settings.provision_secret_key(
            load_settings({"VINOVA_ENV_FILE": "", "VINOVA_DATA_DIR": str(tmp_path / "data")})
        )
    assert set(caught.value.errors) == {"VINOVA_SECRET_KEY"}
