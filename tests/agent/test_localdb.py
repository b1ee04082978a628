"""The one opener of agent.db: private file, WAL, one durability level, versioned schema and its upgrade.

``tests/data/agent-db-v0.sqlite`` is a real file written by the code as it was at commit 03f9600
(``git archive 03f9600`` into a temporary folder, then ``upload_queue.CaptureStore`` and
``outbox.Outbox`` from there: three captures — queued, kept aside, uploaded — and four minutes of
two users). It has ``user_version`` 0, as every agent.db written before the schema was versioned.
"""

from __future__ import annotations

import shutil
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.localdb import DATABASE_NAME, SCHEMA_VERSION, open_agent_db, schema_version
from agent.outbox import Outbox, SetAside
from agent.spool import CaptureStore
from contract.errors import VinovaError

OLD_FILE = Path(__file__).resolve().parents[1] / "data" / "agent-db-v0.sqlite"


@pytest.fixture
def old_agent_dir(tmp_path: Path) -> Path:
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    shutil.copyfile(OLD_FILE, agent_dir / DATABASE_NAME)
    return agent_dir


def test_a_new_file_is_private_in_wal_mode_at_the_current_version(tmp_path: Path) -> None:
    connection = open_agent_db(tmp_path / "agent")
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert schema_version(connection) == SCHEMA_VERSION
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"captures", "samples"} <= tables
    finally:
        connection.close()
    assert stat.S_IMODE((tmp_path / "agent" / DATABASE_NAME).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "agent").stat().st_mode) == 0o700


def test_the_fixture_is_an_unversioned_file_from_before() -> None:
    connection = sqlite3.connect(f"file:{OLD_FILE}?mode=ro", uri=True)
    try:
        assert schema_version(connection) == 0
    finally:
        connection.close()


def test_opening_an_old_file_upgrades_it_and_keeps_every_capture_and_minute(old_agent_dir: Path) -> None:
    store = CaptureStore(old_agent_dir)
    outbox = Outbox(old_agent_dir)
    try:
        assert store.counts() == {"queued": 1, "uploaded": 1, "kept_aside": 1}
        (queued,) = store.pending()
        assert queued.key == "p/ann/2026/11/25/180001Z-6caf38d537984e26.jpg"
        assert queued.taken_at == datetime(2026, 11, 25, 18, 0, 1, tzinfo=UTC)
        shape = (queued.timezone, queued.width, queued.height, queued.size_bytes)
        assert shape == ("Europe/Berlin", 64, 48, 512)
        assert store.kept_aside_reasons() == {"store refused the upload: 403": 1}
        assert store.last_uploaded_at() == datetime(2026, 11, 25, 18, 1, tzinfo=UTC)
        assert outbox.count() == 4
        minutes = outbox.pending("ann")
        assert [sample["minute_start"] for sample in minutes] == [
            "2026-11-25T18:00:00+00:00", "2026-11-25T18:01:00+00:00", "2026-11-25T18:02:00+00:00"
        ]
        assert [sample["keys"] for sample in minutes] == [0, 1, 2]
        assert outbox.pending("bob")[0]["state"] == "idle"
    finally:
        store.close()
        outbox.close()
    connection = open_agent_db(old_agent_dir)
    try:
        assert schema_version(connection) == SCHEMA_VERSION
    finally:
        connection.close()


def test_an_upgraded_file_takes_new_captures_after_the_old_ones(old_agent_dir: Path) -> None:
    store = CaptureStore(old_agent_dir)
    try:
        record = store.add(key="p/ann/2026/11/25/180100Z-00000000000000aa.jpg",
                           taken_at=datetime(2026, 11, 25, 18, 1, tzinfo=UTC), timezone="UTC", blurred=False,
                           width=1, height=1, data=b"x", sha256="00" * 32)
        assert record is not None and record.capture_id == 4
    finally:
        store.close()


def test_a_file_from_a_newer_agent_is_refused_untouched(tmp_path: Path) -> None:
    agent_dir = tmp_path / "agent"
    open_agent_db(agent_dir).close()
    connection = sqlite3.connect(agent_dir / DATABASE_NAME)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(VinovaError, match="newer"):
        open_agent_db(agent_dir)
    connection = sqlite3.connect(agent_dir / DATABASE_NAME)
    try:
        assert schema_version(connection) == SCHEMA_VERSION + 1
    finally:
        connection.close()


def test_the_upgrade_adds_the_table_of_set_aside_minutes_and_keeps_every_row(old_agent_dir: Path) -> None:
    outbox = Outbox(old_agent_dir)
    try:
        assert outbox.count() == 4 and outbox.set_aside_count("ann") == 0
        (oldest, *_rest) = outbox.pending("ann")
        outbox.set_aside("ann", [SetAside(oldest, "samples[0].minute_start", "is more than 30 days old")])
        assert outbox.count() == 3 and outbox.set_aside_reasons("ann") == {"is more than 30 days old": 1}
    finally:
        outbox.close()
    connection = open_agent_db(old_agent_dir)
    try:
        assert schema_version(connection) == SCHEMA_VERSION >= 2
        assert connection.execute("SELECT COUNT(*) FROM set_aside_minutes").fetchone()[0] == 1
    finally:
        connection.close()
