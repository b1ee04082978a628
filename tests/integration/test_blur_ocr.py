"""Blur must defeat OCR that tries hard (crops, 2x upscale, sharpening, several page modes).

A screen full of text is painted on Xvfb and captured with the real grabber. Unblurred, plain
tesseract reads most of the words; blurred (and JPEG-encoded as it would be spooled), the hard
pass reads none of them.
"""

from __future__ import annotations

import io
import os
import random
import re
import shutil
import subprocess
import tkinter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image, ImageFilter, ImageOps
from support import wait_until

from agent.adapters.screen import choose_grabber
from screenshot_manager import blur_image, encode_jpeg

pytestmark = pytest.mark.integration

WORDS = (
    "invoice salary quarterly confidential customer payroll revenue contract meeting password "
    "account transfer balance pension medical diagnosis lawyer mortgage passport address "
    "birthday interview promotion dismissal budget forecast merger acquisition"
).split()


def ocr_words(image: Image.Image, psm: int, folder: Path) -> set[str]:
    """Lower-case words tesseract reads in ``image`` with page segmentation mode ``psm``."""
    path = folder / f"ocr-{os.getpid()}-{id(image)}-{psm}.png"
    image.save(path)
    try:
        result = subprocess.run(
            ["tesseract", str(path), "stdout", "--psm", str(psm)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            # One thread per tesseract and two in parallel beat OpenMP on a small shared machine.
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        )
    finally:
        path.unlink(missing_ok=True)
    return set(re.findall(r"[a-z]+", result.stdout.lower()))


def hard_ocr_variants(image: Image.Image) -> list[tuple[Image.Image, int]]:
    """What a determined reader tries: crops, 2x Lanczos upscale, sharpening, psm 3, 6 and 11."""
    width, height = image.size
    crops = [
        image.crop((0, 0, width // 2, height // 2)),
        image.crop((width // 4, height // 4, 3 * width // 4, 3 * height // 4)),
    ]
    variants: list[tuple[Image.Image, int]] = [(image, 3)]
    for crop in crops:
        upscaled = crop.resize((crop.width * 2, crop.height * 2), Image.Resampling.LANCZOS)
        sharpened = upscaled.filter(ImageFilter.SHARPEN)
        contrasted = ImageOps.autocontrast(upscaled.convert("L")).filter(
            ImageFilter.UnsharpMask(radius=4, percent=200, threshold=0)
        )
        variants += [(sharpened, 6), (sharpened, 11), (contrasted, 6), (contrasted, 11)]
    return variants


def hard_ocr(image: Image.Image, folder: Path) -> set[str]:
    """Union of the words read by every variant (two tesseract processes at a time)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        variants = hard_ocr_variants(image)
        results = pool.map(lambda variant: ocr_words(variant[0], variant[1], folder), variants)
        return set().union(*results)


def x_pixels_per_point() -> float:
    """Pixels per point of the X screen as the server reports it (xdpyinfo), not as Tk scales it."""
    report = subprocess.run(["xdpyinfo"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"dimensions:\s+(\d+)x\d+ pixels \((\d+)x\d+ millimeters\)", report)
    assert match is not None, "xdpyinfo printed no screen dimensions"
    pixels, millimetres = int(match.group(1)), int(match.group(2))
    return pixels / (millimetres / 25.4) / 72


@pytest.fixture
def text_screen(xvfb: object) -> Iterator[None]:
    """The whole 1920x1080 screen filled with 11 pt text, like a document or a mail client."""
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract is not installed (make test installs it with apt)")
    rng = random.Random(4)
    root = tkinter.Tk()
    # `tk scaling` belongs to the X display, which Tk shares between the interpreters of one
    # process (and Tk's own screen size in mm follows it): a window test that scaled its UI
    # earlier would make this 11 pt text larger and easier to read. Set it back to what the X
    # server itself reports, which is what a fresh process starts with.
    root.tk.call("tk", "scaling", x_pixels_per_point())
    root.overrideredirect(True)
    root.geometry(f"{root.winfo_screenwidth()}x{root.winfo_screenheight()}+0+0")
    text = tkinter.Text(root, font=("DejaVu Sans", 11), wrap="word", borderwidth=0, highlightthickness=0)
    text.place(x=0, y=0, relwidth=1, relheight=1)
    text.insert("1.0", "\n".join(" ".join(rng.choice(WORDS) for _ in range(20)) for _ in range(70)))

    def shown() -> bool:
        root.update()
        return bool(text.winfo_viewable())

    try:
        wait_until(shown, timeout=10, message="the text window to be mapped")
        for _ in range(3):
            root.update()
        yield
    finally:
        root.destroy()


def test_blurred_capture_hides_every_word_from_hard_ocr(text_screen: None, tmp_path: Path) -> None:
    captured = choose_grabber()()
    assert captured.size == (1920, 1080)

    # Unblurred: plain tesseract on a quarter of the screen reads most of the words.
    quarter = captured.crop((0, 0, 960, 540))
    plain_words = ocr_words(quarter, 6, tmp_path) & set(WORDS)
    assert len(plain_words) >= 0.75 * len(WORDS), sorted(plain_words)

    # The hard pass is stronger than plain OCR: through a weak blur it still reads half the words
    # (so its blank result below means something).
    weak = captured.filter(ImageFilter.GaussianBlur(2))
    weak_plain = ocr_words(weak.crop((0, 0, 960, 540)), 6, tmp_path) & set(WORDS)
    weak_hard = hard_ocr(weak, tmp_path) & set(WORDS)
    assert len(weak_hard) >= len(WORDS) // 2
    assert len(weak_hard) > len(weak_plain)

    blurred = Image.open(io.BytesIO(encode_jpeg(blur_image(captured), 70))).convert("RGB")
    blurred_words = hard_ocr(blurred, tmp_path) & set(WORDS)
    assert blurred_words == set()
