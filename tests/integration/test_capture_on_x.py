"""Real capture on Xvfb: what is painted on the screen is what the grabber returns, pixel for pixel."""

from __future__ import annotations

import io
import random
import tkinter
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw
from support import wait_until

from agent.adapters.screen import choose_grabber
from agent.spool import CaptureStore
from screenshot_manager import ScreenshotManager

pytestmark = pytest.mark.integration


def known_picture(width: int, height: int) -> Image.Image:
    """Coloured blocks at random places: any offset, scaling or colour change shows up."""
    rng = random.Random(2026)
    image = Image.new("RGB", (width, height), (12, 34, 56))
    draw = ImageDraw.Draw(image)
    for _ in range(400):
        x, y = rng.randrange(width), rng.randrange(height)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle([x, y, x + rng.randrange(4, 120), y + rng.randrange(4, 120)], fill=colour)
    return image


def screen_equals(picture: Image.Image) -> bool:
    return ImageChops.difference(choose_grabber()(), picture).getbbox() is None


@pytest.fixture
def painted_screen(xvfb: object) -> Iterator[Image.Image]:
    """A borderless Tk window covering the whole X screen shows a known picture."""
    root = tkinter.Tk()
    width, height = root.winfo_screenwidth(), root.winfo_screenheight()
    picture = known_picture(width, height)
    buffer = io.BytesIO()
    picture.save(buffer, format="PPM")
    photo = tkinter.PhotoImage(master=root, data=buffer.getvalue(), format="ppm")
    root.overrideredirect(True)
    root.geometry(f"{width}x{height}+0+0")
    label = tkinter.Label(root, image=photo, borderwidth=0, highlightthickness=0)
    label.place(x=0, y=0)
    def shown() -> bool:
        root.update()
        return bool(label.winfo_viewable()) and screen_equals(picture)

    try:
        wait_until(shown, timeout=10, message="the picture to be on the screen")
        yield picture
    finally:
        root.destroy()


def test_the_grabber_returns_exactly_the_painted_pixels(painted_screen: Image.Image) -> None:
    grab = choose_grabber()
    captured = grab()
    assert captured.size == painted_screen.size == (1920, 1080)
    assert captured.mode == "RGB"
    assert ImageChops.difference(captured, painted_screen).getbbox() is None


def test_a_managed_capture_of_the_real_screen_lands_in_the_spool(
    painted_screen: Image.Image, tmp_path: Path
) -> None:
    store = CaptureStore(tmp_path / "agent")
    enqueued: list[int] = []
    manager = ScreenshotManager(
        grab=choose_grabber(),
        store=store,
        enqueue=enqueued.append,
        username="alice",
        prefix="",
        skip_reason=lambda: None,
        timezone_name=lambda: "UTC",
        spool_limit_bytes=10**9,
    )
    record = manager.capture_now()
    store.close()
    assert record is not None
    assert enqueued == [record.capture_id]
    assert (record.width, record.height) == (1920, 1080)
    with Image.open(record.path) as stored:
        stored_rgb = stored.convert("RGB")
    # JPEG is lossy: compare the average error, not exact pixels.
    difference = ImageChops.difference(stored_rgb, painted_screen).convert("L")
    mean_error = sum(index * count for index, count in enumerate(difference.histogram())) / (1920 * 1080)
    assert mean_error < 6
