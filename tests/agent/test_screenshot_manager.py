"""The capture job on a stepped scheduler with a fake clock and a fake grabber."""

from __future__ import annotations

import datetime as real_datetime
import logging
import random
import stat
import types
import weakref
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import schedule
from PIL import Image, ImageDraw, ImageStat

from agent.events import Captured, EventHub
from agent.spool import CaptureStore
from contract.config_schema import AgentConfig
from contract.errors import CaptureFailed
from screenshot_manager import ScreenshotManager, blur_block_px, blur_image, encode_jpeg

START = real_datetime.datetime(2026, 11, 25, 9, 0, 0)


class SteppedClock:
    """Frozen local time for ``schedule`` (it calls ``datetime.datetime.now()``), stepped by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = START
        clock = self

        class FrozenDatetime(real_datetime.datetime):
            @classmethod
            def now(cls, tz: real_datetime.tzinfo | None = None) -> FrozenDatetime:
                naive = cls(*clock.now.timetuple()[:6])
                return naive if tz is None else naive.astimezone(tz)

        shim = types.SimpleNamespace(**{name: getattr(real_datetime, name) for name in dir(real_datetime)})
        shim.datetime = FrozenDatetime
        monkeypatch.setattr(schedule, "datetime", shim)

    def utc(self) -> real_datetime.datetime:
        return self.now.replace(tzinfo=real_datetime.UTC)

    def run_for(self, scheduler: schedule.Scheduler, seconds: int) -> None:
        """Advance one second at a time, running due jobs after each step."""
        for _ in range(seconds):
            self.now += real_datetime.timedelta(seconds=1)
            scheduler.run_pending()


class CountingGrabber:
    """A fake screen: a different picture every call (so every capture has its own key)."""

    def __init__(self, size: tuple[int, int] = (320, 200)) -> None:
        self.size = size
        self.calls = 0

    def __call__(self) -> Image.Image:
        self.calls += 1
        image = Image.new("RGB", self.size, (255, 255, 255))
        ImageDraw.Draw(image).text((10, 10), f"capture number {self.calls}", fill=(0, 0, 0))
        return image


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SteppedClock:
    return SteppedClock(monkeypatch)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CaptureStore]:
    capture_store = CaptureStore(tmp_path / "agent")
    yield capture_store
    capture_store.close()


class Harness:
    def __init__(self, clock: SteppedClock, store: CaptureStore, **options: object) -> None:
        self.clock = clock
        self.store = store
        self.grabber = CountingGrabber()
        self.enqueued: list[int] = []
        self.skip: str | None = None
        self.scheduler = schedule.Scheduler()
        self.events = EventHub()
        self.manager = ScreenshotManager(
            grab=self.grabber,
            store=store,
            enqueue=self.enqueued.append,
            username="alice",
            prefix="shots/",
            skip_reason=lambda: self.skip,
            timezone_name=lambda: "Europe/Berlin",
            spool_limit_bytes=int(options.get("spool_limit_bytes", 10**9)),  # type: ignore[call-overload]
            clock=clock.utc,
            rng=random.Random(7),
            events=self.events,
        )

    def run_for(self, seconds: int) -> None:
        self.clock.run_for(self.scheduler, seconds)


def config(**values: object) -> AgentConfig:
    return replace(AgentConfig(), **values)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- schedule
def test_captures_every_interval(clock: SteppedClock, store: CaptureStore) -> None:
    harness = Harness(clock, store)
    harness.manager.apply_config(config(screenshot_interval=60))
    harness.manager.install(harness.scheduler)
    harness.run_for(180)
    assert harness.grabber.calls == 3
    assert len(harness.enqueued) == 3
    assert store.counts()["queued"] == 3


def test_an_interval_change_applies_without_a_restart(clock: SteppedClock, store: CaptureStore) -> None:
    harness = Harness(clock, store)
    harness.manager.apply_config(config(screenshot_interval=60))
    harness.manager.install(harness.scheduler)
    harness.run_for(60)
    assert harness.grabber.calls == 1
    harness.manager.apply_config(config(screenshot_interval=20))
    harness.run_for(60)
    assert harness.grabber.calls == 4
    assert len(harness.scheduler.get_jobs("screenshot")) == 1


def test_an_unrelated_config_change_does_not_reset_the_schedule(
    clock: SteppedClock, store: CaptureStore
) -> None:
    harness = Harness(clock, store)
    harness.manager.apply_config(config(screenshot_interval=60))
    harness.manager.install(harness.scheduler)
    harness.run_for(50)
    harness.manager.apply_config(config(screenshot_interval=60, idle_threshold=900))
    harness.run_for(10)
    assert harness.grabber.calls == 1


def test_capture_off_then_on_while_running(
    clock: SteppedClock, store: CaptureStore, caplog: pytest.LogCaptureFixture
) -> None:
    harness = Harness(clock, store)
    harness.manager.apply_config(config(screenshot_interval=30))
    harness.manager.install(harness.scheduler)
    harness.run_for(30)
    harness.manager.apply_config(config(screenshot_interval=30, capture_enabled=False))
    with caplog.at_level(logging.INFO, logger="screenshot_manager"):
        harness.run_for(90)
    assert harness.grabber.calls == 1
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 3
    assert all("capture is disabled" in message for message in skipped)
    harness.manager.apply_config(config(screenshot_interval=30, capture_enabled=True))
    harness.run_for(30)
    assert harness.grabber.calls == 2


def test_random_mode_takes_one_capture_at_a_random_moment_in_each_window(
    clock: SteppedClock, store: CaptureStore
) -> None:
    harness = Harness(clock, store)
    harness.manager.apply_config(config(screenshot_interval=100, random_capture_time=True))
    harness.manager.install(harness.scheduler)
    moments: list[int] = []
    for second in range(1, 501):
        before = harness.grabber.calls
        harness.run_for(1)
        if harness.grabber.calls > before:
            moments.append(second)
    assert len(moments) == 5
    windows = [moment // 100 for moment in moments]
    assert windows == sorted(set(windows)), "exactly one capture per window"
    offsets = {moment % 100 for moment in moments}
    assert len(offsets) > 1, "the moment inside the window varies"


def test_switching_random_mode_off_returns_to_the_fixed_cadence(
    clock: SteppedClock, store: CaptureStore
) -> None:
    harness = Harness(clock, store)
    harness.manager.apply_config(config(screenshot_interval=100, random_capture_time=True))
    harness.manager.install(harness.scheduler)
    harness.manager.apply_config(config(screenshot_interval=100, random_capture_time=False))
    harness.run_for(300)
    assert harness.grabber.calls == 3


# --------------------------------------------------------------------------- skipping
def test_skips_with_the_reason_when_idle_paused_or_suspended(
    clock: SteppedClock, store: CaptureStore, caplog: pytest.LogCaptureFixture
) -> None:
    harness = Harness(clock, store)
    harness.skip = "the user is idle"
    with caplog.at_level(logging.INFO, logger="screenshot_manager"):
        assert harness.manager.capture_now() is None
    assert harness.grabber.calls == 0
    assert "screenshot skipped: the user is idle" in caplog.text


def test_a_full_spool_pauses_captures_with_a_warning_and_deletes_nothing(
    clock: SteppedClock, store: CaptureStore, caplog: pytest.LogCaptureFixture
) -> None:
    harness = Harness(clock, store, spool_limit_bytes=1)
    harness.manager.spool_limit_bytes = 10**9
    first = harness.manager.capture_now()
    assert first is not None
    harness.manager.spool_limit_bytes = first.size_bytes
    with caplog.at_level(logging.WARNING, logger="screenshot_manager"):
        assert harness.manager.capture_now() is None
    assert harness.manager.spool_full
    assert any(r.levelno == logging.WARNING and "spool is full" in r.getMessage() for r in caplog.records)
    assert first.path.exists()
    assert store.counts()["queued"] == 1
    harness.manager.spool_limit_bytes = 10**9
    assert harness.manager.capture_now() is not None
    assert not harness.manager.spool_full


def test_a_failed_grab_is_logged_and_skipped(
    clock: SteppedClock, store: CaptureStore, caplog: pytest.LogCaptureFixture
) -> None:
    harness = Harness(clock, store)

    def broken() -> Image.Image:
        raise CaptureFailed("the screen could not be grabbed: X connection failed")

    harness.manager.grab = broken
    with caplog.at_level(logging.WARNING, logger="screenshot_manager"):
        assert harness.manager.capture_now() is None
    assert "X connection failed" in caplog.text
    assert store.counts()["queued"] == 0


# --------------------------------------------------------------------------- what a capture is
def test_a_capture_is_spooled_privately_with_its_metadata(clock: SteppedClock, store: CaptureStore) -> None:
    harness = Harness(clock, store)
    harness.manager.apply_config(config(jpeg_quality=80))
    record = harness.manager.capture_now()
    assert record is not None
    assert record.key.startswith("shots/alice/2026/11/25/090000Z-")
    assert record.key.endswith(f"-{record.sha256[:16]}.jpg")
    assert (record.width, record.height) == (320, 200)
    assert (record.timezone, record.blurred) == ("Europe/Berlin", False)
    assert stat.S_IMODE(record.path.stat().st_mode) == 0o600
    with Image.open(record.path) as image:
        assert image.format == "JPEG"
        assert image.size == (320, 200)
    assert harness.manager.last_capture == record
    assert harness.enqueued == [record.capture_id]


def test_blur_and_quality_apply_from_the_next_capture(clock: SteppedClock, store: CaptureStore) -> None:
    harness = Harness(clock, store)
    plain = harness.manager.capture_now()
    harness.manager.apply_config(config(blur_screenshots=True))
    clock.now += real_datetime.timedelta(seconds=1)
    blurred = harness.manager.capture_now()
    assert plain is not None and blurred is not None
    assert (plain.blurred, blurred.blurred) == (False, True)
    assert blurred.size_bytes < plain.size_bytes


def test_blur_strength_scales_with_resolution() -> None:
    assert blur_block_px(1920, 1080) == 16
    assert blur_block_px(1366, 768) == 16
    assert blur_block_px(3840, 2160) == 32
    assert blur_block_px(5120, 1440) == 21  # two 1440p monitors side by side: scale by height


def test_blur_removes_fine_detail_and_keeps_the_size() -> None:
    checkerboard = Image.new("L", (256, 128), 0)
    draw = ImageDraw.Draw(checkerboard)
    for x in range(0, 256, 4):
        for y in range(0, 128, 4):
            if (x + y) // 4 % 2 == 0:
                draw.rectangle([x, y, x + 3, y + 3], fill=255)
    blurred = blur_image(checkerboard.convert("RGB"))
    assert blurred.size == checkerboard.size
    assert ImageStat.Stat(checkerboard).stddev[0] > 100
    assert ImageStat.Stat(blurred.convert("L")).stddev[0] < 5


def test_encode_jpeg_quality_changes_the_size() -> None:
    image = CountingGrabber((640, 480))()
    assert len(encode_jpeg(image, 30)) < len(encode_jpeg(image, 95))
    assert encode_jpeg(image, 70)[:2] == b"\xff\xd8"


def test_each_capture_is_announced_with_its_bytes_before_it_is_queued(
    clock: SteppedClock, store: CaptureStore
) -> None:
    harness = Harness(clock, store)
    seen: list[tuple[Captured, int]] = []
    harness.events.subscribe(Captured, lambda event: seen.append((event, len(harness.enqueued))))
    record = harness.manager.capture_now()
    assert record is not None
    ((event, queued_before),) = seen
    assert event.record == record and queued_before == 0
    assert event.jpeg == record.path.read_bytes()
    assert harness.enqueued == [record.capture_id]


def test_a_skipped_capture_is_not_announced(clock: SteppedClock, store: CaptureStore) -> None:
    harness = Harness(clock, store)
    seen: list[Captured] = []
    harness.events.subscribe(Captured, seen.append)
    harness.skip = "the user is idle"
    assert harness.manager.capture_now() is None
    assert seen == []


def test_the_screen_image_is_freed_before_the_capture_is_spooled(
    clock: SteppedClock, store: CaptureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A capture holds one full-size screen at a time: the grab is gone by the time the file is written."""
    screens: list[weakref.ReferenceType[Image.Image]] = []

    def grab() -> Image.Image:
        image = Image.new("RGB", (640, 360), (200, 200, 10 * len(screens)))
        screens.append(weakref.ref(image))
        return image

    alive_at_spool: list[bool] = []
    real_add = store.add

    def add(**fields: object) -> object:
        alive_at_spool.append(screens[-1]() is not None)
        return real_add(**fields)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "add", add)
    harness = Harness(clock, store)
    harness.manager.grab = grab
    for blur in (True, False):
        harness.manager.apply_config(config(blur_screenshots=blur))
        assert harness.manager.capture_now() is not None
        clock.now += real_datetime.timedelta(seconds=60)
    assert alive_at_spool == [False, False]
