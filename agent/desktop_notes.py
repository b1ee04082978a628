"""What the desktop allows, said plainly (issue 15): the key-count mode and the screenshot permission.

:class:`GuardedGrabber` wraps a monitor grabber: a refusal by the desktop (:class:`ScreenshotsBlocked`)
becomes the state "Screenshots blocked by the desktop" and a skipped capture (CaptureFailed, logged by
the capture job); the next capture asks again. No capture is faked and none is lost silently.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from agent.adapters.monitors import MonitorImage
from agent.seams import ScreenshotsBlocked
from contract.errors import CaptureFailed

logger = logging.getLogger(__name__)

SCREENSHOTS_BLOCKED = "Screenshots blocked by the desktop"
PERMISSION_AHEAD = (
    "At the first screenshot the desktop will ask once whether Vinova may take screenshots; "
    "allow it there, or screenshots stay blocked"
)


class GuardedGrabber:
    """A MonitorGrabber that turns the desktop's refusal into a state (scheduler thread calls it)."""

    def __init__(self, grab: Callable[[], list[MonitorImage]]) -> None:
        self._grab = grab
        self.asks_permission = bool(getattr(grab, "asks_permission", False))
        self._lock = threading.Lock()
        self._blocked: str | None = None
        self._captured = False

    def __call__(self) -> list[MonitorImage]:
        try:
            images = self._grab()
        except ScreenshotsBlocked as exc:
            with self._lock:
                first = self._blocked is None
                self._blocked = str(exc)
            if first:
                logger.warning("%s: %s; asking again at the next capture", SCREENSHOTS_BLOCKED.lower(), exc)
            raise CaptureFailed(f"{SCREENSHOTS_BLOCKED.lower()} ({exc})") from exc
        with self._lock:
            was_blocked, self._blocked = self._blocked, None
            self._captured = True
        if was_blocked is not None:
            logger.info("screenshots allowed by the desktop again")
        return images

    @property
    def blocked(self) -> str | None:
        """Why the desktop refused the last capture; None when it did not."""
        with self._lock:
            return self._blocked

    def note(self) -> str:
        """The screenshot line for the window: blocked, the permission prompt ahead, or nothing."""
        with self._lock:
            blocked, captured = self._blocked, self._captured
        if blocked is not None:
            return SCREENSHOTS_BLOCKED
        if self.asks_permission and not captured:
            return PERMISSION_AHEAD
        return ""


class DesktopNotes:
    """The words the window shows about this desktop: the counting mode and the screenshot note."""

    def __init__(self, counting_words: str, grabber: GuardedGrabber | None = None) -> None:
        self.counting_words = counting_words
        self._grabber = grabber

    def screenshots_note(self) -> str:
        """See :meth:`GuardedGrabber.note`; empty without a guarded grabber."""
        return self._grabber.note() if self._grabber is not None else ""
