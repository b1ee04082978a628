"""The shared settings layering: defaults < .env files < environment < overrides, read-only."""

from __future__ import annotations

from pathlib import Path

from contract.layering import layered_values, read_dotenv


def test_later_layers_win(tmp_path: Path) -> None:
    first, second = tmp_path / "first.env", tmp_path / "second.env"
    first.write_text("A=first\nB=first\nC=first\n")
    second.write_text("B=second\n")
    values = layered_values(
        {"A": "default", "D": "default"}, [first, second], {"C": "environ"}, {"D": "override"}
    )
    assert values == {"A": "first", "B": "second", "C": "environ", "D": "override"}


def test_a_none_override_unsets_and_a_bare_dotenv_name_is_empty(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("BARE\nSET=1\n")
    assert read_dotenv(dotenv) == {"BARE": "", "SET": "1"}
    assert layered_values({"SET": "0"}, [dotenv], {}, {"SET": None})["SET"] == ""


def test_a_missing_dotenv_file_is_skipped_and_never_created(tmp_path: Path) -> None:
    missing = tmp_path / ".env"
    assert layered_values({"A": "1"}, [missing], {}, {}) == {"A": "1"}
    assert not missing.exists()
