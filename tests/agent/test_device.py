"""The device id: made once, owner-only, kept; a damaged file is moved aside; the name is settable."""

from __future__ import annotations

import json
import logging
import socket
import stat
from pathlib import Path

import pytest

from agent.device import load_or_create_device
from agent.settings import AgentSettings
from contract.devices import DEVICE_ID_PATTERN
from contract.errors import ConfigError


def test_the_device_is_made_once_owner_only_and_read_afterwards(tmp_path: Path) -> None:
    first = load_or_create_device(tmp_path)
    path = tmp_path / "device.json"
    assert DEVICE_ID_PATTERN.match(first.id)
    assert first.name == socket.gethostname()[:64]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"id": first.id, "name": first.name}
    assert load_or_create_device(tmp_path) == first


def test_a_name_from_the_settings_renames_the_device_but_keeps_its_id(tmp_path: Path) -> None:
    first = load_or_create_device(tmp_path)
    renamed = load_or_create_device(tmp_path, "Ann's desktop")
    assert renamed.id == first.id and renamed.name == "Ann's desktop"
    assert load_or_create_device(tmp_path).name == "Ann's desktop"


@pytest.mark.parametrize("content", [b"", b"{not json", b"[]", b'{"id": "XYZ", "name": "a"}',
                                     b'{"id": "0123456789abcdef0123456789abcdef\\n", "name": "a"}',
                                     b"[" * 100_000, b"\xff\xfe"])
def test_a_damaged_device_file_is_moved_aside_and_a_new_id_made(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "device.json").write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="agent.device"):
        device = load_or_create_device(tmp_path)
    assert DEVICE_ID_PATTERN.match(device.id)
    assert [path.name.startswith("device.json.damaged-") for path in tmp_path.glob("device.json.*")] == [True]
    assert "gets a new device id" in caplog.text


def test_the_device_name_variable_is_checked(tmp_path: Path) -> None:
    settings = AgentSettings.load(environ={"VINOVA_DEVICE_NAME": " Ann's laptop "}, dotenv_paths=())
    assert settings.device_name == "Ann's laptop"
    with pytest.raises(ConfigError, match="VINOVA_DEVICE_NAME"):
        AgentSettings.load(environ={"VINOVA_DEVICE_NAME": "x" * 65}, dotenv_paths=())
    with pytest.raises(ConfigError, match="VINOVA_DEVICE_NAME"):
        AgentSettings.load(environ={"VINOVA_DEVICE_NAME": "tab\there"}, dotenv_paths=())
