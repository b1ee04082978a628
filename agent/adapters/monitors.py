"""Where each monitor lies on the desktop, read from the platform each capture (issue 13, "Every monitor").

Each monitor is its own image: the desktop is grabbed once and cut along the monitors' rectangles
(X11, Windows), or each display is grabbed on its own (macOS). Monitors are numbered 0.. left to
right, then top to bottom, so "monitor 0" is the same screen from one capture to the next while
the desk stays as it is. A monitor plugged in or out shows at the next capture: the layout is read
again every time (a few X or ctypes calls, well under a millisecond of work).

* X11: RandR 1.5 monitors (``xrandr --listmonitors``: what desktops call monitors, incl. ones
  made with ``xrandr --setmonitor``), else the active CRTCs (RandR 1.2), else the whole screen.
* Windows: ``EnumDisplayMonitors`` rectangles in physical pixels (per-monitor DPI awareness, as
  Pillow's own grab uses), relative to the virtual desktop that ``ImageGrab.grab(all_screens=True)`` returns.
* macOS: ``CGGetActiveDisplayList`` and ``CGDisplayBounds`` (points); each display is grabbed with
  ``ImageGrab.grab(bbox=…)``, which gives its native (Retina) pixels.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from contract.screenshots import MAX_MONITORS

logger = logging.getLogger(__name__)

# Pillow's Windows grab runs with this thread DPI awareness (per monitor): rectangles must match it.
DPI_AWARENESS_CONTEXT_PER_MONITOR_AWARE = -3
_CG_MAX_DISPLAYS = 32


@dataclass(frozen=True, slots=True)
class Monitor:
    """One monitor's rectangle on the desktop, in pixels (points on macOS), left/top inclusive."""

    x: int
    y: int
    width: int
    height: int
    name: str = ""

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` as Pillow's crop and bbox take it."""
        return (self.x, self.y, self.x + self.width, self.y + self.height)


@dataclass(frozen=True, slots=True)
class MonitorImage:
    """One monitor's capture: its number (0-based, left to right) and its RGB image."""

    monitor: int
    image: Image.Image


def arrange(monitors: Sequence[Monitor], desktop_size: tuple[int, int] | None = None) -> list[Monitor]:
    """Monitors clipped to the desktop, without empty or mirrored duplicates, left to right, at most 16.

    ``desktop_size`` is the grabbed image's (width, height) when the monitors are cut from it.
    """
    seen: set[tuple[int, int, int, int]] = set()
    kept: list[Monitor] = []
    for monitor in monitors:
        left, top, right, bottom = monitor.box
        if desktop_size is not None:
            left, top = max(0, left), max(0, top)
            right, bottom = min(desktop_size[0], right), min(desktop_size[1], bottom)
        if right <= left or bottom <= top or (left, top, right, bottom) in seen:
            continue  # off the desktop, empty, or a mirror of one already kept
        seen.add((left, top, right, bottom))
        kept.append(Monitor(left, top, right - left, bottom - top, monitor.name))
    kept.sort(key=lambda monitor: (monitor.x, monitor.y))
    if len(kept) > MAX_MONITORS:
        logger.warning("%d monitors: only the first %d are captured", len(kept), MAX_MONITORS)
    return kept[:MAX_MONITORS]


def cut_monitors(desktop: Image.Image, monitors: Sequence[Monitor]) -> list[MonitorImage]:
    """The desktop image cut into one image per monitor; the whole image when no monitor lies on it."""
    arranged = arrange(monitors, desktop.size)
    if len(arranged) <= 1 and (not arranged or arranged[0].box == (0, 0, *desktop.size)):
        return [MonitorImage(0, desktop)]
    return [MonitorImage(index, desktop.crop(monitor.box)) for index, monitor in enumerate(arranged)]


# --------------------------------------------------------------------------- X11 (python-xlib)
def x11_monitors(connection: Any) -> list[Monitor]:
    """The monitors of an open python-xlib connection: RandR 1.5 monitors, else active CRTCs, else the screen.

    Raises what python-xlib raises when the server stops answering (the caller translates).
    """
    screen = connection.screen()
    whole = [Monitor(0, 0, int(screen.width_in_pixels), int(screen.height_in_pixels), "screen")]
    if not connection.has_extension("RANDR"):
        return whole
    root = screen.root
    version = connection.xrandr_query_version()
    if (int(version.major_version), int(version.minor_version)) >= (1, 5):
        reply = root.xrandr_get_monitors(is_active=True)
        found = [
            Monitor(int(m.x), int(m.y), int(m.width_in_pixels), int(m.height_in_pixels),
                    _atom_name(connection, m.name))
            for m in reply.monitors
        ]
        if found:
            return found
    resources = root.xrandr_get_screen_resources()
    crtcs = []
    for crtc in resources.crtcs:
        info = connection.xrandr_get_crtc_info(crtc, resources.config_timestamp)
        if int(info.mode) != 0 and int(info.width) > 0 and int(info.height) > 0:  # mode 0: switched off
            crtcs.append(Monitor(int(info.x), int(info.y), int(info.width), int(info.height), f"crtc {crtc}"))
    return crtcs or whole


def _atom_name(connection: Any, atom: int) -> str:
    return str(connection.get_atom_name(atom)) if atom else ""


# --------------------------------------------------------------------------- Windows (user32 via ctypes)
class WinRect(ctypes.Structure):
    """``RECT``: LONG (32-bit) left, top, right, bottom."""

    _fields_ = [("left", ctypes.c_int32), ("top", ctypes.c_int32), ("right", ctypes.c_int32),
                ("bottom", ctypes.c_int32)]


# BOOL CALLBACK MonitorEnumProc(HMONITOR, HDC, LPRECT, LPARAM); stdcall on Windows (WINFUNCTYPE).
_FUNCTION_TYPE = getattr(ctypes, "WINFUNCTYPE", ctypes.CFUNCTYPE)
MONITOR_ENUM_PROC = _FUNCTION_TYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(WinRect), ctypes.c_ssize_t
)


def windows_monitors(user32: Any) -> list[Monitor]:
    """Every monitor's rectangle in virtual-desktop pixels (may be negative left of the main one).

    ``user32`` is ``ctypes.windll.user32`` (or a fake with the same functions). The thread is made
    per-monitor DPI aware for the call, as Pillow's grab is, so rectangles are physical pixels.
    """
    found: list[Monitor] = []

    def collect(_monitor: Any, _dc: Any, rect: Any, _data: Any) -> int:
        area = rect.contents
        found.append(Monitor(int(area.left), int(area.top), int(area.right - area.left),
                             int(area.bottom - area.top), f"display {len(found) + 1}"))
        return 1  # go on

    set_awareness = getattr(user32, "SetThreadDpiAwarenessContext", None)  # Windows 10 1607+
    aware = ctypes.c_void_p(DPI_AWARENESS_CONTEXT_PER_MONITOR_AWARE)
    previous = set_awareness(aware) if set_awareness is not None else None
    try:
        if not user32.EnumDisplayMonitors(None, None, MONITOR_ENUM_PROC(collect), 0):
            raise OSError("EnumDisplayMonitors failed")
    finally:
        if set_awareness is not None and previous:
            set_awareness(previous)
    return found


def on_virtual_desktop(monitors: Sequence[Monitor]) -> list[Monitor]:
    """Rectangles moved so the virtual desktop's top-left (the left- and top-most monitor) is (0, 0)."""
    if not monitors:
        return []
    left = min(monitor.x for monitor in monitors)
    top = min(monitor.y for monitor in monitors)
    return [Monitor(m.x - left, m.y - top, m.width, m.height, m.name) for m in monitors]


def virtual_desktop_size(monitors: Sequence[Monitor]) -> tuple[int, int]:
    """The bounding box's (width, height) of rectangles already :func:`on_virtual_desktop`."""
    return (max(m.x + m.width for m in monitors), max(m.y + m.height for m in monitors))


# --------------------------------------------------------------------------- macOS (CoreGraphics via ctypes)
class CGPoint(ctypes.Structure):
    """``CGPoint`` (CGFloat = double on 64-bit)."""

    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double)]


class CGSize(ctypes.Structure):
    """``CGSize``."""

    _fields_ = [("width", ctypes.c_double), ("height", ctypes.c_double)]


class CGRect(ctypes.Structure):
    """``CGRect``: what ``CGDisplayBounds`` returns, in global display points (y grows downwards)."""

    _fields_ = [("origin", CGPoint), ("size", CGSize)]


def mac_displays(core_graphics: Any) -> list[Monitor]:
    """Every active display's bounds in points; ``core_graphics`` is the CoreGraphics library (or a fake)."""
    core_graphics.CGGetActiveDisplayList.restype = ctypes.c_int32
    core_graphics.CGGetActiveDisplayList.argtypes = [
        ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint32)
    ]
    core_graphics.CGDisplayBounds.restype = CGRect
    core_graphics.CGDisplayBounds.argtypes = [ctypes.c_uint32]
    displays = (ctypes.c_uint32 * _CG_MAX_DISPLAYS)()
    count = ctypes.c_uint32(0)
    error = core_graphics.CGGetActiveDisplayList(_CG_MAX_DISPLAYS, displays, ctypes.pointer(count))
    if error != 0:
        raise OSError(f"CGGetActiveDisplayList failed (CGError {error})")
    found = []
    for display in list(displays)[: count.value]:
        bounds = core_graphics.CGDisplayBounds(display)
        found.append(Monitor(round(bounds.origin.x), round(bounds.origin.y), round(bounds.size.width),
                             round(bounds.size.height), f"display {display}"))
    return found
