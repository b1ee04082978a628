"""Screen-like JPEGs for the thumbnail and page-weight tests: windows full of text, as a desktop looks.

A flat colour compresses to almost nothing and would flatter the thumbnails; these pictures carry
the edges and small text of a real 1080p capture (~250-400 KB at the agent's default quality 70).
"""

from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
WORDS = (
    "invoice quarterly review budget deploy server branch merge customer ticket meeting agenda notes "
    "design draft release schedule report summary python flask tkinter upload thumbnail diary team"
).split()
AGENT_JPEG_QUALITY = 70


def _font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if FONT_PATH.is_file():
        return ImageFont.truetype(str(FONT_PATH), size_px)
    return ImageFont.load_default()


def desktop_picture(seed: int, width_px: int = 1920, height_px: int = 1080) -> Image.Image:
    """A desktop with a task bar and two overlapping windows of text, different for each ``seed``."""
    chance = random.Random(seed)
    picture = Image.new("RGB", (width_px, height_px), (38 + seed % 40, 70, 110 + seed % 60))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, height_px - 40, width_px, height_px), fill=(30, 32, 38))
    font = _font(max(10, height_px // 75))
    line_px = max(12, height_px // 60)
    for window in range(2):
        left = chance.randint(0, width_px // 3) + window * width_px // 5
        top = chance.randint(20, height_px // 4) + window * 40
        right = min(width_px - 10, left + chance.randint(width_px // 2, 3 * width_px // 4))
        bottom = max(top + 30, min(height_px - 60, top + chance.randint(height_px // 2, 2 * height_px // 3)))
        draw.rectangle((left, top, right, bottom), fill=(250, 250, 248), outline=(90, 90, 90))
        draw.rectangle((left, top, right, top + 28), fill=(220, 224, 232))
        draw.text((left + 10, top + 6), " ".join(chance.choices(WORDS, k=4)), fill=(20, 20, 20), font=font)
        for row, y in enumerate(range(top + 40, bottom - line_px, line_px)):
            indent = 10 + 24 * (row % 4 == 0)
            words = " ".join(chance.choices(WORDS, k=chance.randint(6, 18)))
            colour = (20, 20, 20) if row % 7 else (30, 80, 170)
            draw.text((left + indent, y), words, fill=colour, font=font)
    return picture


def desktop_jpeg(seed: int, width_px: int = 1920, height_px: int = 1080) -> bytes:
    """:func:`desktop_picture` encoded as the agent encodes captures (baseline JPEG, quality 70)."""
    buffer = io.BytesIO()
    desktop_picture(seed, width_px, height_px).save(buffer, "JPEG", quality=AGENT_JPEG_QUALITY)
    return buffer.getvalue()


def desktop_day(count: int, distinct: int = 10) -> list[bytes]:
    """``count`` captures of a working day: ``distinct`` desktops, each capture with its own task-bar clock.

    Drawing a desktop is the slow part (~0.1 s); a capture of the same screen a few minutes later
    differs in its clock, as real ones do, and costs only the JPEG encoding.
    """
    bases = [desktop_picture(seed) for seed in range(min(count, distinct))]
    font = _font(16)
    captures = []
    for number in range(count):
        picture = bases[number % len(bases)].copy()
        draw = ImageDraw.Draw(picture)
        clock = f"{9 + number * 5 // 60:02d}:{number * 5 % 60:02d}  capture {number + 1}"
        draw.text((picture.width - 260, picture.height - 30), clock, fill=(240, 240, 240), font=font)
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=AGENT_JPEG_QUALITY)
        captures.append(buffer.getvalue())
    return captures
