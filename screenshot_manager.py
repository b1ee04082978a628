"""Schedule-driven screen capture, blur, JPEG encode and hand-off to the upload worker.

The capture job runs on the agent's one ``schedule.Scheduler`` (no thread of its own): every
``screenshot_interval`` seconds, or at a random moment inside each interval when
``random_capture_time`` is on. Blur happens in memory before anything touches the disk; the
JPEG is spooled atomically by :class:`agent.spool.CaptureStore`, announced as
:class:`agent.events.Captured`, and its id handed to the upload worker.
"""

from __future__ import annotations

import hashlib
import io
import logging
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from PIL import Image

from agent.adapters.monitors import MonitorImage
from agent.adapters.screen import Grabber, MonitorGrabber, monitor_images
from agent.events import Captured, EventHub
from agent.localdb import LocalWriteFailed
from agent.memory import give_back_freed_memory
from agent.spool import CaptureRecord, CaptureStore
from contract.config_schema import AgentConfig
from contract.errors import CaptureFailed
from contract.screenshots import object_key
from time_manager import utc_now

if TYPE_CHECKING:
    import schedule

logger = logging.getLogger(__name__)

JOB_TAG = "screenshot"
# Measured: OCR that crops, upscales 2x and sharpens still reads text blurred with a Gaussian
# radius < 12 px or blocks < 16 px at 1080p. Blocks of 16 px, scaled with the screen, and a
# smooth (bilinear) upscale so the result looks like frosted glass rather than a mosaic.
BLUR_BLOCK_PX_AT_1080P = 16


def blur_block_px(width: int, height: int) -> int:
    """The blur block size for a screen: 16 px at 1080p, scaled with the shorter side (32 px at 2160p)."""
    return max(BLUR_BLOCK_PX_AT_1080P, round(BLUR_BLOCK_PX_AT_1080P * min(width, height) / 1080))


def blur_image(image: Image.Image) -> Image.Image:
    """Blur so that text cannot be read, even by OCR on upscaled, sharpened crops (~8 ms at 1080p).

    Averages ``blur_block_px`` blocks (box filter) and scales back up bilinearly: as strong as
    pixelation, several times cheaper than a Gaussian of the same strength, and smooth to look at.
    """
    return blur_restore(blur_reduce(image), image.size)


def blur_reduce(image: Image.Image) -> Image.Image:
    """Blur's first step: the block averages (small; the screen image may be freed after it)."""
    return image.reduce(blur_block_px(image.width, image.height))


def blur_restore(small: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Blur's second step: the block averages scaled back up to the screen's ``size``, bilinearly."""
    return small.resize(size, Image.Resampling.BILINEAR)


def encode_jpeg(image: Image.Image, quality: int, monitor: int = 0) -> bytes:
    """Encode as baseline JPEG at ``quality`` (30-95).

    Monitors after the first carry their number in a JPEG comment: two monitors showing the same
    picture at the same second must still give two files and two (content-addressed) keys.
    """
    buffer = io.BytesIO()
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    rgb.save(buffer, format="JPEG", quality=quality, **({"comment": f"monitor {monitor}"} if monitor else {}))
    return buffer.getvalue()


class ScreenshotManager:
    """The capture job: decides whether to capture, captures, blurs, spools and enqueues.

    ``grab`` returns one RGB image per monitor (or every screen as one image; scheduler thread,
    ~20 ms at 1080p; raises CaptureFailed). ``skip_reason`` returns why tracking is off right now
    (idle, paused, battery, signed out) or None; ``timezone_name`` the IANA zone to stamp captures
    with. ``enqueue`` hands a spooled capture id to the upload worker; ``events`` receives
    :class:`agent.events.Captured` first. All calls come from the scheduler thread except
    :attr:`last_capture`/:attr:`spool_full`, which any thread may read.
    """

    def __init__(
        self,
        *,
        grab: Grabber | MonitorGrabber,
        store: CaptureStore,
        enqueue: Callable[[int], None],
        username: str,
        prefix: str,
        skip_reason: Callable[[], str | None],
        timezone_name: Callable[[], str],
        spool_limit_bytes: int,
        clock: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
        events: EventHub | None = None,
    ) -> None:
        self.grab = grab
        self.store = store
        self.enqueue = enqueue
        self.username = username
        self.prefix = prefix
        self.skip_reason = skip_reason
        self.timezone_name = timezone_name
        self.spool_limit_bytes = spool_limit_bytes
        self.clock = clock
        self._rng = rng or random.Random()
        self.events = events if events is not None else EventHub()
        self._config = AgentConfig()
        self._scheduler: schedule.Scheduler | None = None
        self._generation = 0
        self._scheduled_shape: tuple[int, bool] | None = None
        self._lock = threading.Lock()
        self._last_capture: CaptureRecord | None = None
        self._spool_full = False
        self._write_failure_said = False  # a full disk is said once, not once per capture

    # ----------------------------------------------------------------- state for other threads
    @property
    def last_capture(self) -> CaptureRecord | None:
        """The newest capture spooled by this manager (for the GUI thumbnail)."""
        with self._lock:
            return self._last_capture

    @property
    def spool_full(self) -> bool:
        """True while captures are paused because the spool reached its limit."""
        with self._lock:
            return self._spool_full

    # ----------------------------------------------------------------- scheduling
    def apply_config(self, config: AgentConfig) -> None:
        """Adopt a new policy; the job is rescheduled when the interval or random mode changed.

        Blur, JPEG quality and capture on/off take effect at the next capture. Scheduler thread.
        """
        old = self._config
        self._config = config
        changes = config.changes_from(old)
        for name in ("screenshot_interval", "random_capture_time", "capture_enabled", "blur_screenshots"):
            if name in changes:
                logger.info("screenshot setting %s: %s -> %s", name, *changes[name])
        if self._scheduler is not None and self._scheduled_shape != self._shape():
            self._reschedule()

    def install(self, scheduler: schedule.Scheduler) -> None:
        """Add the capture job to the agent's one scheduler."""
        self._scheduler = scheduler
        self._reschedule()

    def _shape(self) -> tuple[int, bool]:
        return (self._config.screenshot_interval, self._config.random_capture_time)

    def _reschedule(self) -> None:
        scheduler = self._scheduler
        assert scheduler is not None
        self._generation += 1
        generation = self._generation
        scheduler.clear(JOB_TAG)
        interval_seconds, random_moment = self._shape()
        self._scheduled_shape = (interval_seconds, random_moment)
        if random_moment:
            self._plan_random_window(generation)
            scheduler.every(interval_seconds).seconds.do(self._plan_random_window, generation).tag(JOB_TAG)
            logger.info("screenshots at a random moment in every %d s window", interval_seconds)
        else:
            scheduler.every(interval_seconds).seconds.do(self._scheduled_capture, generation).tag(JOB_TAG)
            logger.info("screenshots every %d s", interval_seconds)

    def _plan_random_window(self, generation: int) -> Any:
        """At the start of each window, plan one capture at a random second inside it."""
        import schedule

        if generation != self._generation or self._scheduler is None:
            return schedule.CancelJob
        offset_seconds = self._rng.randint(1, max(1, self._config.screenshot_interval - 1))
        self._scheduler.every(offset_seconds).seconds.do(self._random_capture_once, generation).tag(JOB_TAG)
        return None

    def _random_capture_once(self, generation: int) -> Any:
        import schedule

        if generation == self._generation:
            self._run_job()
        return schedule.CancelJob

    def _scheduled_capture(self, generation: int) -> Any:
        import schedule

        if generation != self._generation:
            return schedule.CancelJob
        self._run_job()
        return None

    def _run_job(self) -> None:
        """The job boundary: a failure is logged and the scheduler goes on."""
        try:
            self.capture_now()
        except Exception:
            logger.exception("screenshot job failed")

    # ----------------------------------------------------------------- capturing
    def _why_not(self) -> tuple[str | None, bool]:
        """(reason to skip, whether that reason is a warning)."""
        if not self._config.capture_enabled:
            return "capture is disabled by the server's configuration", False
        reason = self.skip_reason()
        if reason:
            return reason, False
        used_bytes = self.store.spool_bytes()
        if used_bytes >= self.spool_limit_bytes:
            return (
                f"the upload spool is full ({used_bytes // 1_000_000} MB of "
                f"{self.spool_limit_bytes // 1_000_000} MB); captures pause until uploads catch up",
                True,
            )
        return None, False

    def capture_now(self) -> CaptureRecord | None:
        """Capture, blur if configured, spool and enqueue; None (with one log line) when skipped."""
        reason, is_warning = self._why_not()
        with self._lock:
            self._spool_full = is_warning
        if reason is not None:
            (logger.warning if is_warning else logger.info)("screenshot skipped: %s", reason)
            return None
        config = self._config
        taken_at = self.clock().astimezone(UTC)
        try:
            shots = monitor_images(self.grab())
        except CaptureFailed as exc:
            logger.warning("screenshot skipped: %s", exc)
            return None
        # Each monitor is its own capture of the same moment (issue 13); the first one spooled is returned.
        records: list[CaptureRecord | None] = []
        try:
            while shots:  # popped: each screen image is freed as soon as its blur no longer needs it
                records.append(self._spool_image(shots.pop(0), taken_at, config))
        finally:
            give_back_freed_memory()
        return next((record for record in records if record is not None), None)

    def _spool_image(
        self, shot: MonitorImage, taken_at: datetime, config: AgentConfig
    ) -> CaptureRecord | None:
        """Blur, encode, spool, announce and enqueue one monitor's image; None when it was not spooled.

        Takes the only reference to ``shot``: the full screen is freed once blurred, and the blurred
        one once encoded, so a capture holds at most one full-size image besides Pillow's grab.
        """
        monitor, image = shot.monitor, shot.image
        del shot
        width, height = image.size
        if config.blur_screenshots:
            small = blur_reduce(image)
            del image
            image = blur_restore(small, (width, height))
            del small
        data = encode_jpeg(image, config.jpeg_quality, monitor)
        del image
        sha256_hex = hashlib.sha256(data).hexdigest()
        key = object_key(self.prefix, self.username, taken_at, sha256_hex)
        try:
            record = self.store.add(
                key=key,
                taken_at=taken_at,
                timezone=self.timezone_name(),
                blurred=config.blur_screenshots,
                width=width,
                height=height,
                data=data,
                sha256=sha256_hex,
                monitor=monitor,
            )
        except LocalWriteFailed as exc:
            # Disk full: one plain warning, then quiet until a capture is spooled again.
            (logger.debug if self._write_failure_said else logger.warning)("screenshot skipped: %s", exc)
            self._write_failure_said = True
            return None
        if self._write_failure_said:
            logger.warning("screenshots are spooled again (there is space on the disk)")
            self._write_failure_said = False
        if record is None:
            return None
        # Announced before it is queued: once queued, the worker may upload and delete the file.
        self.events.publish(Captured(record, data))
        self.enqueue(record.capture_id)
        with self._lock:
            self._last_capture = record
        logger.info(
            "screenshot taken: %s (%dx%d, %d KB%s)",
            key,
            record.width,
            record.height,
            record.size_bytes // 1024,
            ", blurred" if record.blurred else "",
        )
        return record
