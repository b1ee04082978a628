"""The engine's watch over its OS seams: input listeners that die, the screen lock.

Both run on the scheduler thread only (jobs of :class:`agent.engine.Agent`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date

import time_manager
from activity_tracker import ActivityTracker
from agent.seams import InputSource, LockState
from contract.errors import VinovaError

log = logging.getLogger(__name__)


def ordinal(number: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``, ``21st``."""
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th') }"


class InputWatchdog:
    """Restarts dead input listeners and counts it; also restarts them after a sleep.

    Without it a listener that dies silently (its X connection killed, an X server restart)
    turns the rest of the day into "idle".
    """

    def __init__(
        self,
        source: InputSource | None,
        tracker: ActivityTracker,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._tracker = tracker
        self._wall_clock = wall_clock
        self.restarts = 0  # restarts of dead listeners since the agent started
        self._day: date | None = None
        self._restarts_today = 0
        self._failing = False

    @property
    def ok(self) -> bool:
        """Whether input is being observed (False without listeners or while one is dead)."""
        return self._source is not None and self._source.running

    def check(self) -> None:
        """The watchdog job: a dead listener is restarted, logged and counted."""
        if self._source is None or self._source.running:
            return
        if not self._restart():
            return
        self.restarts += 1
        today = time_manager.local_date(
            time_manager.utc_from_timestamp(self._wall_clock()), self._tracker.timezone_name
        )
        if today != self._day:
            self._day, self._restarts_today = today, 0
        self._restarts_today += 1
        log.warning("input listener stopped; restarted (%s time today)", ordinal(self._restarts_today))

    def after_wake(self) -> None:
        """After a sleep the listeners' X connections may be stale: new ones, not counted as a failure."""
        if self._source is not None and self._restart():
            log.info("input listeners restarted after the sleep")

    def _restart(self) -> bool:
        assert self._source is not None
        try:
            self._source.restart(self._tracker)
        except VinovaError as exc:
            if not self._failing:
                log.error("input listener stopped and could not be restarted (trying again): %s", exc)
            self._failing = True
            return False
        self._failing = False
        return True


class LockWatch:
    """Polls the screen lock and tells the tracker; one log line on lock and one on unlock."""

    def __init__(self, lock_state: LockState | None, tracker: ActivityTracker) -> None:
        self._lock_state = lock_state
        self._tracker = tracker

    def poll(self) -> None:
        """The lock poll job."""
        if self._lock_state is None:
            return
        locked = self._lock_state.screen_locked()
        if locked is None or locked == self._tracker.screen_locked:
            return
        self._tracker.set_screen_locked(locked)
        if locked:
            log.info("screen locked: no captures, and the minutes are idle until it is unlocked")
        else:
            log.info("screen unlocked: tracking")
