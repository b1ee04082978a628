"""The config schema's refusals: every bad field named, and names that are safe to show and log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from contract.config_schema import DEFAULTS, validate_config
from contract.errors import ConfigError


def test_unknown_keys_are_named_with_control_characters_and_lone_surrogates_escaped() -> None:
    with pytest.raises(ConfigError) as refused:
        validate_config({"\ud800": 1, "pausé": 2, "a\nb": 3, "jpeg_quality": "x"}, partial=True)
    assert refused.value.errors == {"\\ud800": "unknown setting", "pausé": "unknown setting",
                                    "a\\nb": "unknown setting", "jpeg_quality": "must be a whole number"}


def test_a_refusal_of_a_lone_surrogate_key_can_be_written_to_a_utf8_log(tmp_path: Path) -> None:
    path = tmp_path / "agent.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    logger = logging.getLogger("test_config_schema")
    logger.addHandler(handler)
    try:
        with pytest.raises(ConfigError) as refused:
            validate_config({**DEFAULTS, "\udfff": True})
        logger.warning("refused: %s", refused.value)
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert "refused: invalid configuration: \\udfff: unknown setting" in path.read_text(encoding="utf-8")
