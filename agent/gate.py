"""Whether a capture may happen now: the user's pause, the session, the battery, the screen lock and idle."""

from __future__ import annotations

from activity_tracker import ActivityTracker
from battery_manager import BatteryMonitor
from contract.activity import STATE_IDLE


class CaptureGate:
    """The switches the engine sets (pause, session) and the capture job reads through :meth:`skip_reason`.

    The engine writes the flags on the Tk or scheduler thread; the capture job reads them on the
    scheduler thread. Plain booleans: a read racing a write sees the old or the new value, both fine.
    """

    def __init__(self, tracker: ActivityTracker, battery: BatteryMonitor) -> None:
        self._tracker = tracker
        self._battery = battery
        self.paused = False
        self.session_expired = False

    def skip_reason(self) -> str | None:
        """Why a capture must not happen now, or None to go ahead."""
        if self.session_expired:
            return "signed out"
        if self.paused:
            return "tracking is paused"
        if self._battery.suspended:
            return "battery low: tracking suspended"
        if self._tracker.screen_locked:
            return "the screen is locked"
        if self._tracker.state == STATE_IDLE:
            return "the user is idle"
        return None
