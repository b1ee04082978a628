"""Owner-only files: mode 0600 in a 0700 folder, replaced atomically, the old file kept on failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from contract.private_files import replacing, write_private_file


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_is_0600_in_a_new_0700_folder(tmp_path: Path) -> None:
    target = tmp_path / "agent" / "session.json"
    old_umask = os.umask(0o022)  # even under a permissive umask
    try:
        write_private_file(target, '{"token": "t"}')
    finally:
        os.umask(old_umask)
    assert target.read_text(encoding="utf-8") == '{"token": "t"}'
    assert mode(target) == 0o600
    assert mode(target.parent) == 0o700


def test_replacing_an_open_readers_file_swaps_it_whole(tmp_path: Path) -> None:
    target = tmp_path / "config.json"
    write_private_file(target, b"old")
    target.chmod(0o644)
    with target.open("rb") as reader:
        write_private_file(target, "new ✓")
        assert reader.read() == b"old"  # a reader of the old file is not disturbed: a new inode
    assert target.read_bytes() == "new ✓".encode()
    assert mode(target) == 0o600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "config.json"
    write_private_file(target, b"old")
    with pytest.raises(RuntimeError), replacing(target) as handle:
        handle.write(b"half of the new")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config.json"]
