"""Screen capture: one grabber per platform, chosen by one function that imports the platform library."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PIL import Image

from agent.adapters.monitors import (
    Monitor,
    MonitorImage,
    arrange,
    cut_monitors,
    mac_displays,
    on_virtual_desktop,
    virtual_desktop_size,
    windows_monitors,
    x11_monitors,
)
from agent.adapters.session import GNOME, KDE, detect_session
from agent.adapters.x11_grab import band_format, grab_monitors
from contract.errors import CaptureFailed

logger = logging.getLogger(__name__)

Grabber = Callable[[], Image.Image]
"""Grabs every screen as one RGB image. Called on the scheduler thread; blocks ~20 ms at 1080p.

Raises :class:`contract.errors.CaptureFailed` when there is no screen to grab.
"""

MonitorGrabber = Callable[[], list[MonitorImage]]
"""Grabs each monitor as its own RGB image, numbered 0.. left to right (the layout is read each time).

Called on the scheduler thread; blocks ~20 ms at 1080p on X11 and Windows, a few hundred ms per
display on macOS. Raises :class:`contract.errors.CaptureFailed` when there is no screen to grab.
"""


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


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
        return _rgb(image)

    return grab


def monitor_images(grabbed: Image.Image | Sequence[MonitorImage]) -> list[MonitorImage]:
    """What a grabber returned, as monitor images: a single image (every screen in one) is monitor 0."""
    if isinstance(grabbed, Image.Image):
        return [MonitorImage(0, grabbed)]
    return list(grabbed)


class _LayoutLog:
    """Says in the log when the monitors change (their count or sizes), not at every capture."""

    def __init__(self) -> None:
        self._last: tuple[tuple[int, int], ...] | None = None

    def seen(self, images: Sequence[MonitorImage]) -> None:
        layout = tuple(shot.image.size for shot in images)
        if layout != self._last:
            sizes = ", ".join(f"{width}x{height}" for width, height in layout)
            logger.info("%d monitor%s: %s", len(layout), "" if len(layout) == 1 else "s", sizes)
            self._last = layout


class X11MonitorGrabber:
    """Each RandR monitor (read at every capture) grabbed into its own image over one X connection.

    The pixels come a band at a time (:mod:`agent.adapters.x11_grab`); a server with an unusual pixel
    layout is grabbed whole by Pillow (XCB) and cut.
    """

    def __init__(self, display: str | None = None) -> None:
        self.display = display
        self._layout = _LayoutLog()
        self._geometry_failure_said = False

    def __call__(self) -> list[MonitorImage]:
        from Xlib import display as xdisplay
        from Xlib import error as xerror

        failures = (xerror.XError, xerror.DisplayError, xerror.ConnectionClosedError, OSError)
        try:
            connection = xdisplay.Display(self.display or os.environ.get("DISPLAY"))
        except failures as exc:
            raise CaptureFailed(f"the screen could not be grabbed: {exc}") from exc
        try:
            monitors = self._monitors(connection)
            raw_mode = band_format(connection)
            if raw_mode is None:
                images = self._pillow(monitors)
            else:
                images = grab_monitors(connection, monitors, raw_mode)
        except failures as exc:
            raise CaptureFailed(f"the screen could not be grabbed: {exc}") from exc
        finally:
            try:
                connection.close()
            except Exception:  # closing a connection the server already dropped
                logger.debug("closing the X connection failed", exc_info=True)
        self._layout.seen(images)
        return images

    def _monitors(self, connection: Any) -> list[Monitor]:
        """The X server's monitors now; none (said once) when the geometry cannot be read."""
        from Xlib import error as xerror

        try:
            found = x11_monitors(connection)
        except (xerror.XError, xerror.ConnectionClosedError, OSError) as exc:
            (logger.debug if self._geometry_failure_said else logger.warning)(
                "the monitors' layout cannot be read (%s); the whole screen is one image", exc
            )
            self._geometry_failure_said = True
            return []
        self._geometry_failure_said = False
        return found

    def _pillow(self, monitors: list[Monitor]) -> list[MonitorImage]:
        from PIL import ImageGrab

        return cut_monitors(_rgb(ImageGrab.grab(xdisplay=self.display)), monitors)


class WindowsMonitorGrabber:
    """The virtual desktop grabbed once (``all_screens=True``) and cut along ``EnumDisplayMonitors``."""

    def __init__(self, user32: Any) -> None:
        self.user32 = user32
        self._layout = _LayoutLog()

    def __call__(self) -> list[MonitorImage]:
        from PIL import ImageGrab

        try:
            monitors = on_virtual_desktop(windows_monitors(self.user32))
        except OSError as exc:
            logger.warning("the monitors' layout cannot be read (%s); the whole desktop is one image", exc)
            monitors = []
        try:
            desktop = _rgb(ImageGrab.grab(all_screens=True))
        except OSError as exc:
            raise CaptureFailed(f"the screen could not be grabbed: {exc}") from exc
        if monitors and virtual_desktop_size(monitors) != desktop.size:
            # Rectangles in other pixels than the grab (DPI virtualisation): cutting would be wrong.
            logger.warning("the monitors' layout does not match the desktop grabbed; one image of it all")
            monitors = []
        images = cut_monitors(desktop, monitors)
        self._layout.seen(images)
        return images


class MacMonitorGrabber:
    """Each active display grabbed on its own (``screencapture -R`` through Pillow), in native pixels."""

    def __init__(self, core_graphics: Any) -> None:
        self.core_graphics = core_graphics
        self._layout = _LayoutLog()

    def __call__(self) -> list[MonitorImage]:
        from PIL import ImageGrab

        try:
            displays = arrange(mac_displays(self.core_graphics))
        except OSError as exc:
            logger.warning("the displays cannot be listed (%s); the main display only", exc)
            displays = []
        try:
            if not displays:
                images = [MonitorImage(0, _rgb(ImageGrab.grab()))]
            else:
                images = [MonitorImage(index, _rgb(ImageGrab.grab(bbox=display.box)))
                          for index, display in enumerate(displays)]
        except (OSError, subprocess.CalledProcessError) as exc:  # screencapture failed or was refused
            raise CaptureFailed(f"the screen could not be grabbed: {exc}") from exc
        self._layout.seen(images)
        return images


def choose_monitor_grabber(
    display: str | None = None, environ: Mapping[str, str] | None = None
) -> MonitorGrabber:
    """Each monitor its own image on this platform; the platform's library is loaded here, not at import.

    ``display`` is an X display name (default: ``$DISPLAY``). On Wayland: grim on wlroots, the desktop
    portal on GNOME and KDE (whose grabber raises ScreenshotsBlocked when the person refuses).
    """
    environ = os.environ if environ is None else environ
    session = detect_session(environ)
    if session.is_wayland:
        return _wayland_grabber(session.desktop, environ)
    if sys.platform == "win32":
        import ctypes

        return WindowsMonitorGrabber(ctypes.windll.user32)  # type: ignore[attr-defined,unused-ignore]
    if sys.platform == "darwin":
        import ctypes
        import ctypes.util

        path = ctypes.util.find_library("CoreGraphics") or (
            "/System/Library/Frameworks/CoreGraphics.framework/CoreGraphics"
        )
        return MacMonitorGrabber(ctypes.CDLL(path))
    return X11MonitorGrabber(display)


def _wayland_grabber(desktop: str, environ: Mapping[str, str]) -> MonitorGrabber:
    if desktop in (GNOME, KDE):
        from agent.adapters.portal_screen import choose_portal_grabber

        portal = choose_portal_grabber(environ)
        if portal is not None:
            return portal
        logger.warning("no screenshot portal on this %s desktop; trying grim", desktop)
    from agent.adapters.wayland_screen import GrimMonitorGrabber

    return GrimMonitorGrabber(environ)
