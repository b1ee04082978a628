"""Draw the launcher icon, packaging/vinova.png (256 by 256 pixels): a teal disc with a white pulse line."""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

ICON_SIZE_PIXELS = 256
TEAL = (20, 132, 125, 255)
WHITE = (255, 255, 255, 255)


def draw_icon(size_pixels: int = ICON_SIZE_PIXELS) -> Image.Image:
    """The Vinova icon: a disc and the activity pulse of the tracker."""
    image = Image.new("RGBA", (size_pixels, size_pixels), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    margin = size_pixels // 16
    draw.ellipse((margin, margin, size_pixels - margin, size_pixels - margin), fill=TEAL)
    unit = size_pixels / 16
    points = [(3, 8.5), (6, 8.5), (7.2, 5), (8.8, 12), (10, 8.5), (13, 8.5)]
    draw.line([(x * unit, y * unit) for x, y in points], fill=WHITE, width=max(2, size_pixels // 16),
              joint="curve")
    return image


def main(argv: list[str]) -> int:
    """Write the icon to the path given (default: packaging/vinova.png beside this script)."""
    target = Path(argv[0]) if argv else Path(__file__).resolve().parent / "vinova.png"
    draw_icon().save(target, format="PNG", optimize=True)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
