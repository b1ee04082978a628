"""Shared by the spool, worker and uploader tests: a spool in tmp_path, captures, a scripted uploader."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta

from agent.spool import CaptureRecord, CaptureStore
from contract.screenshots import object_key

START = datetime(2026, 11, 25, 18, 0, 0, tzinfo=UTC)


def add_capture(store: CaptureStore, number: int, size_bytes: int = 1000) -> CaptureRecord:
    """Spool capture ``number``: distinct bytes, taken ``number`` seconds after START."""
    data = number.to_bytes(4, "big") * (size_bytes // 4)
    sha256_hex = hashlib.sha256(data).hexdigest()
    taken_at = START + timedelta(seconds=number)
    record = store.add(
        key=object_key("p/", "alice", taken_at, sha256_hex),
        taken_at=taken_at,
        timezone="Europe/Berlin",
        blurred=False,
        width=640,
        height=480,
        data=data,
        sha256=sha256_hex,
    )
    assert record is not None
    return record


class ScriptedUploader:
    """Answers each put with the next scripted outcome (an exception or None), then succeeds."""

    mode = "fake"

    def __init__(self, script: list[BaseException | None] | None = None) -> None:
        self.script = list(script or [])
        self.calls: list[str] = []
        self.stored: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def put(self, record: CaptureRecord, data: bytes) -> None:
        with self.lock:
            self.calls.append(record.key)
            outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        with self.lock:
            self.stored[record.key] = data


class FakeClock:
    """A monotonic clock and a wall clock that only move when told to."""

    def __init__(self) -> None:
        self.seconds = 1000.0
        self.lock = threading.Lock()

    def monotonic(self) -> float:
        with self.lock:
            return self.seconds

    def wall(self) -> datetime:
        return START + timedelta(seconds=self.monotonic())

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.seconds += seconds
