"""AgentSettings: defaults < .env < environment < flags; bad values named; loading writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import DEFAULT_SERVER_URL, AgentSettings
from contract.errors import ConfigError


def test_settings_layer_dotenv_then_environment_then_flags(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("VINOVA_SERVER_URL=http://from-dotenv:5000\nVINOVA_SPOOL_MAX_MB=100\n")
    settings = AgentSettings.load(
        environ={"VINOVA_SPOOL_MAX_MB": "200", "VINOVA_AGENT_DIR": str(tmp_path / "a")},
        flags={"server_url": "http://from-flag:5000"},
        dotenv_paths=(dotenv,),
    )
    assert settings.server_url == "http://from-flag:5000"
    assert settings.spool_max_mb == 200
    assert settings.agent_dir == tmp_path / "a"


def test_bad_settings_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        AgentSettings.load(environ={"VINOVA_SERVER_URL": "ftp://x", "VINOVA_SPOOL_MAX_MB": "lots"},
                           dotenv_paths=())
    assert set(caught.value.errors) == {"VINOVA_SERVER_URL", "VINOVA_SPOOL_MAX_MB"}


def test_empty_variables_and_unset_flags_keep_the_defaults(tmp_path: Path) -> None:
    settings = AgentSettings.load(
        environ={"VINOVA_SERVER_URL": "", "VINOVA_LOG_LEVEL": "debug"},
        flags={"server_url": None, "log_level": None},
        dotenv_paths=(tmp_path / "missing.env",),
    )
    assert settings.server_url == DEFAULT_SERVER_URL
    assert settings.log_level == "DEBUG"


def test_loading_creates_no_file_or_folder(tmp_path: Path) -> None:
    agent_dir = tmp_path / "agent"
    AgentSettings.load(environ={"VINOVA_AGENT_DIR": str(agent_dir)}, dotenv_paths=())
    assert list(tmp_path.iterdir()) == []
    settings = AgentSettings(agent_dir=agent_dir)
    assert settings.prepare_agent_dir() == agent_dir and agent_dir.stat().st_mode & 0o777 == 0o700


def test_a_ca_bundle_is_a_path_to_an_existing_file(tmp_path: Path) -> None:
    bundle = tmp_path / "company-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = AgentSettings.load(environ={"VINOVA_CA_BUNDLE": str(bundle)}, dotenv_paths=())
    assert settings.ca_bundle == bundle
    assert AgentSettings.load(environ={"VINOVA_CA_BUNDLE": ""}, dotenv_paths=()).ca_bundle is None
    with pytest.raises(ConfigError) as caught:
        AgentSettings.load(environ={"VINOVA_CA_BUNDLE": str(tmp_path / "missing.pem")}, dotenv_paths=())
    assert set(caught.value.errors) == {"VINOVA_CA_BUNDLE"}
    assert "missing.pem" in caught.value.errors["VINOVA_CA_BUNDLE"]
