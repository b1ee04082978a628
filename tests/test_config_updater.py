"""The config schema: every bad field is named, bools are not ints, defaults are valid."""

from __future__ import annotations

import pytest

from config_updater import DEFAULTS, AgentConfig, validate_config, validate_overrides
from errors import ConfigError


def test_defaults_form_a_valid_complete_config() -> None:
    config = AgentConfig.from_mapping({**DEFAULTS, "version": 3})
    assert config.as_dict() == DEFAULTS


def test_every_bad_field_is_named_in_one_error() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config({"screenshot_interval": 5, "jpeg_quality": "high", "colour": "red"})
    assert set(caught.value.errors) == {"screenshot_interval", "jpeg_quality", "colour"}
    assert "between 10 and 86400" in caught.value.errors["screenshot_interval"]


def test_a_bool_is_not_accepted_as_an_int() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config({"idle_threshold": True})
    assert caught.value.errors == {"idle_threshold": "must be a whole number"}


def test_an_int_is_not_accepted_as_a_bool() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config({"capture_enabled": 1})
    assert list(caught.value.errors) == ["capture_enabled"]


@pytest.mark.parametrize("zone", ["local", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata"])
def test_timezone_accepts_iana_names_and_local(zone: str) -> None:
    assert validate_config({"timezone": zone}) == {"timezone": zone}


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "UTC+2", 5])
def test_timezone_rejects_anything_else(zone: object) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config({"timezone": zone})
    assert list(caught.value.errors) == ["timezone"]


def test_complete_config_requires_every_key() -> None:
    partial = dict(DEFAULTS)
    del partial["blur_screenshots"]
    with pytest.raises(ConfigError) as caught:
        AgentConfig.from_mapping(partial)
    assert caught.value.errors == {"blur_screenshots": "is missing"}


def test_override_null_removes_but_unknown_keys_are_still_refused() -> None:
    assert validate_overrides({"jpeg_quality": None, "idle_threshold": 60}) == {
        "jpeg_quality": None,
        "idle_threshold": 60,
    }
    with pytest.raises(ConfigError) as caught:
        validate_overrides({"nonsense": None})
    assert list(caught.value.errors) == ["nonsense"]


def test_changes_from_lists_old_and_new_values() -> None:
    old = AgentConfig()
    new = AgentConfig(screenshot_interval=60, blur_screenshots=True)
    assert new.changes_from(old) == {"screenshot_interval": (300, 60), "blur_screenshots": (False, True)}
