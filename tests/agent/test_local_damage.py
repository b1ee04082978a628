"""A damaged, truncated, emptied or deleted agent.db: moved aside, a fresh one made, captures found again.

Issue 10 item 7. Every case uses real files: a real agent.db written by the outbox and the spool,
then damaged the way disks and people damage it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from spool_support import START, ScriptedUploader
from support import wait_until

from agent.localdb import DATABASE_NAME, SCHEMA_VERSION, open_agent_db, salvage_minutes, schema_version
from agent.outbox import Outbox
from agent.spool import KEPT_ASIDE, QUEUED, CaptureStore
from agent.worker import UploadWorker
from contract.activity import MinuteSample
from contract.screenshots import object_key
from screenshot_manager import encode_jpeg

KEY_FOLDER = "p/alice/"


def jpeg(number: int) -> bytes:
    return encode_jpeg(Image.new("RGB", (64, 48), (number * 40 % 256, 90, 160)), 80)


def spool_three_captures(agent_dir: Path) -> list[str]:
    """Three captures and five minutes in a healthy agent.db; returns the capture keys."""
    store = CaptureStore(agent_dir, key_folder=KEY_FOLDER)
    outbox = Outbox(agent_dir)
    keys = []
    try:
        for number in range(3):
            data = jpeg(number)
            digest = hashlib.sha256(data).hexdigest()
            taken_at = START + timedelta(seconds=number)
            key = object_key("p/", "alice", taken_at, digest)
            store.add(key=key, taken_at=taken_at, timezone="Europe/Berlin", blurred=True, width=64,
                      height=48, data=data, sha256=digest)
            keys.append(key)
        outbox.add("alice", [minute(m) for m in range(1, 6)])
    finally:
        store.close()
        outbox.close()
    return keys


def minute(number: int) -> MinuteSample:
    return MinuteSample(minute_start=START + timedelta(minutes=number), active_seconds=1, keys=1, clicks=0,
                        scrolls=0, mouse_px=0, state="tracking", timezone="UTC", utc_offset_minutes=0)


def garbage(path: Path) -> None:
    path.write_bytes(b"\x00not a database\xff" * 700)


def truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def zero_length(path: Path) -> None:
    path.write_bytes(b"")


def deleted(path: Path) -> None:
    path.unlink()


def overwritten_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[4096:8192] = b"\xa5" * 4096  # the second page: sqlite_master's children
    path.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "garbage": garbage, "truncated": truncated, "overwritten": overwritten_pages,
    "zero_length": zero_length, "deleted": deleted,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_the_agent_starts_on_a_damaged_database_and_finds_every_capture_again(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    agent_dir = tmp_path / "agent"
    keys = spool_three_captures(agent_dir)
    database = agent_dir / DATABASE_NAME
    for companion in (agent_dir / "agent.db-wal", agent_dir / "agent.db-shm"):
        assert not companion.exists() or companion.stat().st_size >= 0
    DAMAGE[damage](database)

    with caplog.at_level(logging.WARNING):
        store = CaptureStore(agent_dir, key_folder=KEY_FOLDER)
        outbox = Outbox(agent_dir)
    try:
        recovered = store.recover()
        assert sorted(record.key for record in recovered) == sorted(keys)
        # The sidecars carry what the names cannot: zone and blur survive.
        assert {(record.timezone, record.blurred, record.width) for record in recovered} == {
            ("Europe/Berlin", True, 64)
        }
        assert all(record.status == QUEUED for record in recovered)
        connection = open_agent_db(agent_dir)
        try:
            assert schema_version(connection) == SCHEMA_VERSION
        finally:
            connection.close()
        if damage in ("garbage", "truncated", "overwritten"):
            asides = sorted(path.name for path in agent_dir.glob("agent.db.corrupt-*"))
            assert asides and asides[0].startswith("agent.db.corrupt-20")
            assert "was damaged" in caplog.text and "moved aside" in caplog.text
        assert not [record for record in caplog.records if record.exc_info]
        assert outbox.count("alice") in (0, 5)  # minutes still readable in the damaged file are kept
    finally:
        store.close()
        outbox.close()


def test_minutes_readable_in_a_damaged_file_are_copied_into_the_fresh_one(tmp_path: Path) -> None:
    agent_dir = tmp_path / "agent"
    spool_three_captures(agent_dir)
    aside = agent_dir / "agent.db.corrupt-test"
    (agent_dir / DATABASE_NAME).rename(aside)
    connection = open_agent_db(agent_dir)
    try:
        assert salvage_minutes(aside, connection) == 5
        assert connection.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 5
        garbage(aside)
        assert salvage_minutes(aside, connection) == 0  # nothing readable: nothing copied, no error
    finally:
        connection.close()


def test_a_spool_file_whose_bytes_changed_is_kept_aside_not_uploaded(tmp_path: Path) -> None:
    agent_dir = tmp_path / "agent"
    keys = spool_three_captures(agent_dir)
    (agent_dir / DATABASE_NAME).unlink()
    victim = sorted((agent_dir / "spool").glob("*.jpg"))[0]
    victim.write_bytes(jpeg(7))  # a valid JPEG, but not the one the name's digest promises
    store = CaptureStore(agent_dir, key_folder=KEY_FOLDER)
    try:
        assert len(store.recover()) == 2
        (kept,) = store.kept_aside()
        assert kept.reason == "spool file corrupt" and kept.key in keys
    finally:
        store.close()


def test_without_sidecars_the_key_comes_from_the_name_and_the_key_folder(tmp_path: Path) -> None:
    agent_dir = tmp_path / "agent"
    keys = spool_three_captures(agent_dir)
    (agent_dir / DATABASE_NAME).unlink()
    for sidecar in (agent_dir / "spool").glob("*.json"):
        sidecar.unlink()
    store = CaptureStore(agent_dir, key_folder=KEY_FOLDER)
    try:
        recovered = store.recover()
        assert sorted(record.key for record in recovered) == sorted(keys)
        assert {(record.width, record.height) for record in recovered} == {(64, 48)}
    finally:
        store.close()


def test_rebuilt_captures_are_uploaded_by_the_worker(tmp_path: Path) -> None:
    agent_dir = tmp_path / "agent"
    keys = spool_three_captures(agent_dir)
    garbage(agent_dir / DATABASE_NAME)
    store = CaptureStore(agent_dir, key_folder=KEY_FOLDER)
    uploader = ScriptedUploader()
    registered: list[str] = []
    worker = UploadWorker(
        store=store, uploader=uploader, register=lambda record: registered.append(record.key)
    )
    try:
        worker.start()
        wait_until(lambda: not list((agent_dir / "spool").iterdir()), timeout=10)
        assert sorted(uploader.stored) == sorted(keys) == sorted(registered)
    finally:
        worker.stop()
        store.close()


def test_kept_aside_captures_are_tried_again_on_start_and_by_retry(tmp_path: Path) -> None:
    agent_dir = tmp_path / "agent"
    spool_three_captures(agent_dir)
    store = CaptureStore(agent_dir, key_folder=KEY_FOLDER)
    for record in store.pending():
        store.keep_aside(record.capture_id, "store refused the upload: 403")
    assert store.counts()[KEPT_ASIDE] == 3
    registered: list[str] = []
    worker = UploadWorker(store=store, uploader=ScriptedUploader(),
                          register=lambda record: registered.append(record.key))
    try:
        worker.start()
        wait_until(lambda: len(registered) == 3, timeout=10)
    finally:
        worker.stop()
        store.close()


def test_the_retry_action_queues_kept_aside_captures_at_once(tmp_path: Path) -> None:
    agent_dir = tmp_path / "agent"
    spool_three_captures(agent_dir)
    store = CaptureStore(agent_dir, key_folder=KEY_FOLDER)
    registered: list[str] = []
    uploader = ScriptedUploader()
    worker = UploadWorker(
        store=store, uploader=uploader, register=lambda record: registered.append(record.key)
    )
    try:
        worker.start()
        wait_until(lambda: len(registered) == 3, timeout=10)
        # Spool one more, keep it aside, then press Retry.
        data = jpeg(9)
        digest = hashlib.sha256(data).hexdigest()
        record = store.add(key=object_key("p/", "alice", START + timedelta(seconds=9), digest),
                           taken_at=START + timedelta(seconds=9), timezone="UTC", blurred=False, width=64,
                           height=48, data=data, sha256=digest)
        assert record is not None
        store.keep_aside(record.capture_id, "store refused the upload: 403")
        assert worker.retry_kept_aside() == 1
        wait_until(lambda: len(registered) == 4, timeout=10)
    finally:
        worker.stop()
        store.close()
