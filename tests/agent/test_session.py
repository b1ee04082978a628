"""The saved sign-in: private file, tied to one server, unreadable files ignored."""

from __future__ import annotations

from pathlib import Path

from agent.session import SavedSession, clear_session, load_session, save_session


def test_a_saved_session_is_private_and_reloads(tmp_path: Path) -> None:
    agent_dir = tmp_path / "agent"
    session = SavedSession("http://127.0.0.1:5000", "ann", "token-value", "2026-12-02T00:00:00+00:00")
    save_session(agent_dir, session)
    assert (agent_dir / "session.json").stat().st_mode & 0o777 == 0o600
    assert agent_dir.stat().st_mode & 0o777 == 0o700
    assert load_session(agent_dir, "http://127.0.0.1:5000/") == session


def test_a_session_for_another_server_is_not_used(tmp_path: Path) -> None:
    save_session(tmp_path, SavedSession("http://a:5000", "ann", "t", "e"))
    assert load_session(tmp_path, "http://b:5000") is None


def test_a_damaged_file_is_ignored_and_clear_removes_it(tmp_path: Path) -> None:
    (tmp_path / "session.json").write_text("{", encoding="utf-8")
    assert load_session(tmp_path, "http://a:5000") is None
    clear_session(tmp_path)
    clear_session(tmp_path)
    assert not (tmp_path / "session.json").exists()
