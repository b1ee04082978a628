"""A really full disk (a 2 MB tmpfs): no collected minute is lost, "disk full" is said once, no traceback.

Issue 10 item 7. Needs root to mount the tmpfs (CI runs as root); skipped where mounting is refused.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from agent.delivery import ActivityDelivery
from agent.localdb import DiskFull
from agent.outbox import Outbox
from agent.spool import CaptureStore
from contract.activity import MinuteSample
from contract.config_schema import AgentConfig
from screenshot_manager import ScreenshotManager

START = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True, check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path) -> Path:
    """Write a filler file until the disk refuses more; returns it (delete it to free the space)."""
    filler = disk / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(descriptor, b"\0" * 512)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(descriptor)
    return filler


def minute(number: int) -> MinuteSample:
    return MinuteSample(minute_start=START + timedelta(minutes=number), active_seconds=30, keys=number,
                        clicks=1, scrolls=0, mouse_px=5, state="tracking", timezone="Europe/Berlin",
                        utc_offset_minutes=60)


class Sender:
    def __init__(self) -> None:
        self.stored: set[str] = set()

    def post_activity(self, samples: list[dict[str, Any]], agent: dict[str, int] | None = None) -> int:
        self.stored.update(sample["minute_start"] for sample in samples)
        return len(samples)


def test_minutes_collected_on_a_full_disk_all_reach_the_outbox_once_there_is_space(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agent_dir = small_disk / "agent"
    outbox = Outbox(agent_dir)
    sender = Sender()
    delivery = ActivityDelivery(username="ann", sender=sender, outbox=outbox, stop_event=threading.Event())
    try:
        filler = fill(small_disk)
        collected = 0
        with caplog.at_level(logging.WARNING):
            # The database may still have room in pages it already owns: collect until a write fails.
            while delivery.unsaved == 0 and collected < 20_000:
                delivery.save([minute(collected + n) for n in range(200)])
                collected += 200
            for _ in range(5):  # more flushes while the disk stays full: kept, and not said again
                delivery.save([minute(collected)])
                collected += 1
        assert delivery.unsaved > 0, "the disk never filled"
        messages = [record.getMessage() for record in caplog.records]
        said = [message for message in messages if "kept in memory until there is space" in message]
        assert len(said) == 1 and said[0].startswith("disk full:")
        assert not [record for record in caplog.records if record.exc_info]

        filler.unlink()
        delivery.save([])
        assert delivery.unsaved == 0
        assert outbox.count("ann") == collected  # not one minute lost
        delivery.send(None)
        assert len(sender.stored) == collected and outbox.count("ann") == 0
    finally:
        outbox.close()


def test_captures_on_a_full_disk_are_skipped_with_one_plain_warning(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agent_dir = small_disk / "agent"
    store = CaptureStore(agent_dir, key_folder="p/ann/")
    rng = random.Random(7)
    noise = Image.frombytes("RGB", (320, 240), bytes(rng.getrandbits(8) for _ in range(320 * 240 * 3)))
    moments = iter(START + timedelta(seconds=10 * n) for n in range(1000))
    queued: list[int] = []
    manager = ScreenshotManager(
        grab=lambda: noise, store=store, enqueue=queued.append, username="ann", prefix="p/",
        skip_reason=lambda: None, timezone_name=lambda: "Europe/Berlin", spool_limit_bytes=10**9,
        clock=lambda: next(moments),
    )
    manager.apply_config(AgentConfig(blur_screenshots=False))
    try:
        filler = fill(small_disk)
        with caplog.at_level(logging.WARNING):
            results = [manager.capture_now() for _ in range(5)]
        assert results == [None] * 5
        warnings = [r.getMessage() for r in caplog.records if r.name == "screenshot_manager"]
        assert len(warnings) == 1 and "disk full" in warnings[0]
        assert not [record for record in caplog.records if record.exc_info]
        with pytest.raises(DiskFull):
            store.add(key="p/ann/2026/11/25/090000Z-" + "a" * 16 + ".jpg", taken_at=START, timezone="UTC",
                      blurred=False, width=1, height=1, data=b"\xff" * 100_000, sha256="a" * 64)
        filler.unlink()
        assert manager.capture_now() is not None and len(queued) == 1
        assert len(store.recover()) == 1  # nothing half-written was left behind
    finally:
        store.close()
