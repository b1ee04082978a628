"""Each X11 monitor grabbed straight into its own RGB image, a band of rows at a time (python-xlib).

Pillow's X11 grab holds the whole root's raw 4-byte pixels and the decoded RGB desktop at once, and cutting
it per monitor copies the pixels a third time: ~20 MB for a moment at 1080p, the agent's peak memory. Here
each monitor's image is allocated once (3 bytes a pixel) and filled from ``GetImage`` replies of
:data:`BAND_BYTES` at most, so the peak is the images themselves plus one band.

Only the common layout is read this way (24-bit depth in 32-bit pixels, as every X server of today
gives); :func:`band_format` says None for another and the caller falls back to Pillow's grab.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from agent.adapters.monitors import Monitor, MonitorImage, arrange

BAND_BYTES = 512 * 1024
"""The most raw pixel bytes asked for in one ``GetImage`` (a band of whole rows, at least one)."""

_Z_PIXMAP = 2
_ALL_PLANES = 0xFFFFFFFF
_LSB_FIRST = 0


def band_format(connection: Any) -> str | None:
    """Pillow's raw mode for the root's ZPixmap pixels ("BGRX" or "XRGB"), None when another layout."""
    screen = connection.screen()
    depth = int(screen.root_depth)
    info = connection.display.info
    bits_per_pixel = {int(f.depth): int(f.bits_per_pixel) for f in info.pixmap_formats}
    if depth != 24 or bits_per_pixel.get(depth) != 32:  # 32-bit pixels: rows need no padding
        return None
    return "BGRX" if int(info.image_byte_order) == _LSB_FIRST else "XRGB"


def grab_monitors(connection: Any, monitors: Sequence[Monitor], raw_mode: str) -> list[MonitorImage]:
    """One RGB image per monitor (numbered left to right), the whole screen when none lies on it.

    ``raw_mode`` is :func:`band_format`'s answer. Raises what python-xlib raises (the caller translates).
    """
    screen = connection.screen()
    size = (int(screen.width_in_pixels), int(screen.height_in_pixels))
    arranged = arrange(monitors, size) or [Monitor(0, 0, *size, "screen")]
    return [MonitorImage(index, _grab_box(screen.root, monitor, raw_mode))
            for index, monitor in enumerate(arranged)]


def _grab_box(root: Any, monitor: Monitor, raw_mode: str) -> Image.Image:
    image = Image.new("RGB", (monitor.width, monitor.height))
    rows = max(1, BAND_BYTES // (4 * monitor.width))
    for top in range(0, monitor.height, rows):
        height = min(rows, monitor.height - top)
        reply = root.get_image(monitor.x, monitor.y + top, monitor.width, height, _Z_PIXMAP, _ALL_PLANES)
        band = Image.frombuffer("RGB", (monitor.width, height), reply.data, "raw", raw_mode, 0, 1)
        image.paste(band, (0, top))
        del reply, band
    return image
