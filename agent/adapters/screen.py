"""Screen capture: one grabber per platform, chosen by one function that imports the platform library."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from PIL import Image

from contract.errors import CaptureFailed

logger = logging.getLogger(__name__)

Grabber = Callable[[], Image.Image]
"""Grabs every screen as one RGB image. Called on the scheduler thread; blocks ~20 ms at 1080p.

Raises :class:`contract.errors.CaptureFailed` when there is no screen to grab.
"""


def choose_grabber(display: str | None = None) -> Grabber:
    """The screen grabber of this platform: Pillow ``ImageGrab`` (the X root on Linux = all monitors).

    ``display`` is an X display name (default: ``$DISPLAY``). Pillow is imported here, not at import time.
    """
    from PIL import ImageGrab

    def grab() -> Image.Image:
        try:
            if sys.platform.startswith("linux"):
                image = ImageGrab.grab(xdisplay=display)
            else:
                image = ImageGrab.grab(all_screens=True)
        except OSError as exc:
            raise CaptureFailed(f"the screen could not be grabbed: {exc}") from exc
        return image if image.mode == "RGB" else image.convert("RGB")

    return grab
