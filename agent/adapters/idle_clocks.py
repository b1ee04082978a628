"""The OS idle counter on Windows and macOS, and macOS's privacy permissions, through ctypes.

Each clock takes the system library as a constructor argument (``ctypes.windll.user32``, the
CoreGraphics framework…), so tests pass fakes with the same function names; the loaders at the
bottom open the real libraries and are only called by :func:`agent.adapters.inputs.choose_idle_clock`.

* Windows: ``GetLastInputInfo`` gives the tick (ms since boot, 32 bits) of the last input of this
  session; ``GetTickCount`` the tick now. Both wrap after 49.7 days, so the difference is taken
  modulo 2**32.
* macOS: ``CGEventSourceSecondsSinceLastEventType(kCGEventSourceStateCombinedSessionState,
  kCGAnyInputEventType)`` gives seconds since the last input of the login session; it needs no
  permission. Counting keys and clicks (pynput) needs Accessibility; screenshots need Screen
  Recording (without it macOS returns the desktop picture without any window on it).
"""

from __future__ import annotations

import ctypes
import logging
import math
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

TICKS_MODULO = 2**32
K_CG_EVENT_SOURCE_STATE_COMBINED_SESSION = 0
K_CG_ANY_INPUT_EVENT_TYPE = 0xFFFFFFFF  # ~0: any input event

ACCESSIBILITY_MESSAGE = (
    "Vinova cannot count keyboard and mouse activity yet: allow Vinova in System Settings → "
    "Privacy & Security → Accessibility, then restart Vinova"
)
SCREEN_RECORDING_MESSAGE = (
    "Vinova cannot see windows in its screenshots yet: allow Vinova in System Settings → "
    "Privacy & Security → Screen Recording, then restart Vinova"
)
CORE_GRAPHICS_PATH = "/System/Library/Frameworks/CoreGraphics.framework/CoreGraphics"
APPLICATION_SERVICES_PATH = "/System/Library/Frameworks/ApplicationServices.framework/ApplicationServices"


class LastInputInfo(ctypes.Structure):
    """``LASTINPUTINFO``: UINT cbSize, DWORD dwTime."""

    _fields_ = [("cbSize", ctypes.c_uint32), ("dwTime", ctypes.c_uint32)]


class WindowsIdleClock:
    """Seconds since the last input of this Windows session (``GetLastInputInfo``); scheduler thread, ~µs."""

    def __init__(self, user32: Any, kernel32: Any) -> None:
        self.user32 = user32
        self.kernel32 = kernel32
        self.kernel32.GetTickCount.restype = ctypes.c_uint32
        self._lock = threading.Lock()
        self._failing = False

    def seconds_since_last_input(self) -> float | None:
        """Seconds since the last key, click or move; None (said once) when Windows does not answer."""
        info = LastInputInfo(ctypes.sizeof(LastInputInfo), 0)
        with self._lock:
            if not self.user32.GetLastInputInfo(ctypes.pointer(info)):
                if not self._failing:
                    logger.warning("the Windows idle counter (GetLastInputInfo) did not answer")
                self._failing = True
                return None
            self._failing = False
            now_ticks = int(self.kernel32.GetTickCount())
        return ((now_ticks - int(info.dwTime)) % TICKS_MODULO) / 1000.0


class MacIdleClock:
    """Seconds since the last input of this macOS login session (Quartz event source); scheduler thread."""

    def __init__(self, core_graphics: Any) -> None:
        function = core_graphics.CGEventSourceSecondsSinceLastEventType
        function.restype = ctypes.c_double
        function.argtypes = [ctypes.c_int32, ctypes.c_uint32]
        self._seconds_since = function

    def seconds_since_last_input(self) -> float | None:
        """Seconds since the last key, click, move or scroll; None when the answer makes no sense."""
        seconds = float(
            self._seconds_since(K_CG_EVENT_SOURCE_STATE_COMBINED_SESSION, K_CG_ANY_INPUT_EVENT_TYPE)
        )
        return None if math.isnan(seconds) or seconds < 0.0 else seconds


def mac_permission_problems(application_services: Any, core_graphics: Any) -> list[str]:
    """Plain sentences for each permission macOS has not granted (Accessibility, Screen Recording)."""
    problems = []
    trusted = application_services.AXIsProcessTrusted
    trusted.restype = ctypes.c_bool
    trusted.argtypes = []
    if not trusted():
        problems.append(ACCESSIBILITY_MESSAGE)
    preflight = getattr(core_graphics, "CGPreflightScreenCaptureAccess", None)  # macOS 10.15+
    if preflight is not None:
        preflight.restype = ctypes.c_bool
        preflight.argtypes = []
        if not preflight():
            problems.append(SCREEN_RECORDING_MESSAGE)
    return problems


# --------------------------------------------------------------------------- the real libraries
def load_windows_idle_clock() -> WindowsIdleClock:
    """The idle clock over this machine's user32 and kernel32 (Windows only)."""
    windll = ctypes.windll  # type: ignore[attr-defined,unused-ignore]
    return WindowsIdleClock(windll.user32, windll.kernel32)


def load_mac_idle_clock(open_library: Callable[[str], Any] = ctypes.CDLL) -> MacIdleClock:
    """The idle clock over this machine's CoreGraphics; says which permissions are missing (macOS only)."""
    core_graphics = open_library(CORE_GRAPHICS_PATH)
    try:
        application_services = open_library(APPLICATION_SERVICES_PATH)
        for problem in mac_permission_problems(application_services, core_graphics):
            logger.warning("%s", problem)
    except (OSError, AttributeError) as exc:
        logger.info("the macOS permissions cannot be checked: %s", exc)
    return MacIdleClock(core_graphics)


def load_native_idle_clock(
    platform: str, open_library: Callable[[str], Any] = ctypes.CDLL
) -> WindowsIdleClock | MacIdleClock | None:
    """The idle clock of ``platform`` (``sys.platform``: win32 or darwin); None (logged) if it cannot load."""
    try:
        return load_windows_idle_clock() if platform == "win32" else load_mac_idle_clock(open_library)
    except (OSError, AttributeError) as exc:
        logger.info("no idle counter from the system (%s); idle is judged from the last input seen", exc)
        return None
