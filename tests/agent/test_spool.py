"""The capture spool: durable private files, one row each in agent.db, crash recovery."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from spool_support import START, add_capture

from agent.spool import CaptureStore, spool_file_name
from contract.screenshots import object_key, parse_key, validate_registration


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CaptureStore]:
    capture_store = CaptureStore(tmp_path / "agent")
    yield capture_store
    capture_store.close()


# --------------------------------------------------------------------------- the spool
def test_add_spools_a_private_file_and_records_it_as_queued(store: CaptureStore) -> None:
    record = add_capture(store, 1)
    assert record.status == "queued"
    assert record.path.parent == store.spool_dir
    assert record.path.name == spool_file_name(record.key)
    assert record.path.name.startswith("20261125T180001Z-")
    assert hashlib.sha256(record.path.read_bytes()).hexdigest() == record.sha256
    assert stat.S_IMODE(record.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.spool_dir.stat().st_mode) == 0o700
    assert store.pending() == [record]
    assert store.spool_bytes() == 1000


def test_the_same_capture_is_recorded_once(store: CaptureStore) -> None:
    add_capture(store, 1)
    data = (1).to_bytes(4, "big") * 250
    again = store.add(
        key=object_key("p/", "alice", START + timedelta(seconds=1), hashlib.sha256(data).hexdigest()),
        taken_at=START,
        timezone="UTC",
        blurred=False,
        width=1,
        height=1,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
    )
    assert again is None
    assert store.counts() == {"queued": 1, "uploaded": 0, "kept_aside": 0}


def test_registration_json_is_the_api_body(store: CaptureStore) -> None:
    body = add_capture(store, 2).registration().to_json()
    assert set(body) == {
        "key", "taken_at", "timezone", "blurred", "width", "height", "size_bytes", "sha256", "monitor",
    }
    assert body["taken_at"] == "2026-11-25T18:00:02+00:00"


def test_the_server_accepts_the_registration_the_agent_builds(store: CaptureStore) -> None:
    record = add_capture(store, 2)
    owner = parse_key(record.key, "p/").username
    accepted = validate_registration(record.registration().to_json(), username=owner, prefix="p/")
    assert accepted == record.registration()


def test_mark_uploaded_deletes_the_file_and_keep_aside_keeps_it(store: CaptureStore) -> None:
    first, second = add_capture(store, 1), add_capture(store, 2)
    store.mark_uploaded(first.capture_id)
    store.keep_aside(second.capture_id, "store refused the upload: 403")
    assert not first.path.exists()
    assert second.path.exists()
    assert store.counts() == {"queued": 0, "uploaded": 1, "kept_aside": 1}
    assert store.kept_aside_reasons() == {"store refused the upload: 403": 1}
    assert store.spool_bytes() == 1000
    assert store.retry_kept_aside() == [second.capture_id]
    assert [record.capture_id for record in store.pending()] == [second.capture_id]


def test_recover_finishes_or_forgets_half_done_captures(store: CaptureStore, tmp_path: Path) -> None:
    complete, unwritten, vanished, uploaded = (add_capture(store, n) for n in range(1, 5))
    database = sqlite3.connect(tmp_path / "agent" / "agent.db")
    # A crash after the rename but before "queued", and one before the file existed:
    database.execute(
        "UPDATE captures SET status = 'writing' WHERE id IN (?, ?)",
        (complete.capture_id, unwritten.capture_id),
    )
    database.commit()
    database.close()
    unwritten.path.unlink()
    vanished.path.unlink()
    store.mark_uploaded(uploaded.capture_id)
    uploaded.path.write_bytes(b"left behind by a crash between commit and unlink")
    (store.spool_dir / ".half-written.jpg.tmp").write_bytes(b"partial")

    recovered = store.recover()

    assert [record.capture_id for record in recovered] == [complete.capture_id]
    assert store.get(unwritten.capture_id) is None
    kept = store.get(vanished.capture_id)
    assert kept is not None and kept.status == "kept_aside" and kept.reason == "spool file missing"
    assert not uploaded.path.exists()
    # Only the complete capture is left: its JPEG and the sidecar that can rebuild its record.
    assert sorted(path.name for path in store.spool_dir.iterdir()) == sorted(
        [complete.path.name, complete.path.with_suffix(".json").name]
    )


def test_the_store_shares_agent_db_in_wal_mode(store: CaptureStore, tmp_path: Path) -> None:
    database = sqlite3.connect(tmp_path / "agent" / "agent.db")
    assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    database.execute("CREATE TABLE IF NOT EXISTS samples (minute_start TEXT)")
    database.commit()
    database.close()
    add_capture(store, 1)
    assert store.counts()["queued"] == 1


