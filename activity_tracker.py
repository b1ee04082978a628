"""Input listeners, per-second activity counters, per-minute samples and idle detection.

Threads: input listener threads call the ``InputSink`` methods (they only bump counters under a
lock); the scheduler thread calls :meth:`ActivityTracker.collect`, the ``set_*`` methods and
:meth:`ActivityTracker.note_asleep` (state transitions are logged there, one line each); the GUI
thread may read :attr:`ActivityTracker.state` and the totals.
What is counted: key presses (never which key), clicks (press only), scroll steps, mouse travel in
pixels (the first position after start or resume adds 0). A device that cannot count (Wayland
without evdev) sends None for all four (``on_uncounted_input``). A second is *active* if any input
happened in it; activity % of a 10-minute slot = active / tracked seconds so far
(``contract.activity.activity_percent``; idle, paused, suspended, locked and asleep time is not tracked).
How minutes are labelled (``MinuteSample.state``), in this order:
    0. wholly inside a span the agent did not run (suspend,
       a frozen process: :meth:`note_asleep`)                -> no sample at all: no data
    1. any input in the minute                               -> ``tracking`` (with its counts)
    2. paused during any part of it                          -> ``paused`` (zero counts)
    3. suspended (battery) during any part of it             -> ``suspended`` (zero counts)
    4. the screen locked during any part of it               -> ``idle`` (input is not counted
                                                                while locked; unlock counts as input)
    5. no input, and by the minute's end ``idle_threshold``
       seconds had passed since the last input               -> ``idle``
    6. otherwise (quiet, but not yet idle)                   -> ``tracking`` with 0 active seconds
    7. an ``idle`` minute of an absence counted as work (:meth:`keep_idle`) -> ``idle_kept``
The minutes a sleep began and ended in were partly lived: they follow rules 1-6 on what was seen
(input before the sleep, or after the wake, makes them ``tracking``; the sleep's time counts
towards idle unless the OS idle counter, re-read on wake, saw input).
So the minute in which idle starts is ``idle``; the minute of the first input after an idle span is
``tracking``. Idle spans are recorded as ``idle`` samples, never dropped.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

import time_manager
from agent.minutes import MODE_LOCKED, ActivityTotals, MinuteBook, MinuteCounts, check_threshold
from agent.seams import IdleClock
from contract.activity import (
    SECONDS_PER_MINUTE,
    STATE_IDLE,
    STATE_PAUSED,
    STATE_SUSPENDED,
    STATE_TRACKING,
    MinuteSample,
    activity_percent,
)
from contract.errors import ConfigError

logger = logging.getLogger(__name__)


SLOT_MINUTES = 10
SLOT_SECONDS = SLOT_MINUTES * SECONDS_PER_MINUTE
# The X idle counter must report input this much later than the listeners saw it to count as
# input they missed (the two clocks differ by a few milliseconds).
IDLE_CLOCK_TOLERANCE_SECONDS = 1.0


# --------------------------------------------------------------------------- the tracker
class ActivityTracker:
    """Counts input per second and minute, judges idle, and hands out completed minute samples.

    Implements :class:`agent.seams.InputSink`. ``wall_clock`` returns POSIX seconds (UTC); tests pass a fake.
    """

    def __init__(
        self,
        *,
        idle_threshold_seconds: int,
        timezone_name: str = time_manager.LOCAL_TIMEZONE,
        wall_clock: Callable[[], float] = time.time,
        idle_clock: IdleClock | None = None,
        counted: bool = True,
    ) -> None:
        check_threshold(idle_threshold_seconds)
        time_manager.zone_name(timezone_name)  # ConfigError now rather than at the first collect
        self._lock = threading.Lock()
        self._wall_clock = wall_clock
        self._idle_clock = idle_clock
        self._threshold_seconds = float(idle_threshold_seconds)
        self._timezone_name = timezone_name
        self._paused = False
        self._suspended = False
        self._locked = False
        self._counting = True
        started = wall_clock()
        self._book = MinuteBook(started, counted)  # counted False: samples carry None counts
        self._modes = self._book.modes
        self._last_input = started  # starting counts as input: a fresh agent is not idle
        self._last_position: tuple[int, int] | None = None
        self._idle_return: tuple[float, float] | None = None  # (last input before, first input after)
        self._returns: list[tuple[float, float]] = []  # absences of at least the threshold, not yet taken
        self._reported_state = STATE_TRACKING

    # ---------------------------------------------------------------- InputSink (listener threads)
    def on_key_press(self) -> None:
        """Count one key press."""
        with self._lock:
            if self._counting:
                now = self._wall_clock()
                counts = self._counts_at(now)
                counts.keys += 1
                self._mark_input(counts, now)

    def on_click(self) -> None:
        """Count one click."""
        with self._lock:
            if self._counting:
                now = self._wall_clock()
                counts = self._counts_at(now)
                counts.clicks += 1
                self._mark_input(counts, now)

    def on_scroll(self, steps: int) -> None:
        """Count ``steps`` scroll notches."""
        with self._lock:
            if self._counting:
                now = self._wall_clock()
                counts = self._counts_at(now)
                counts.scrolls += abs(steps)
                self._mark_input(counts, now)

    def on_move(self, x: int, y: int) -> None:
        """Add the pointer's travel from its last seen position, in pixels."""
        with self._lock:
            if self._counting:
                now = self._wall_clock()
                counts = self._counts_at(now)
                previous = self._last_position
                if previous is not None:
                    counts.mouse_px += math.hypot(x - previous[0], y - previous[1])
                self._last_position = (x, y)
                self._mark_input(counts, now)

    def on_uncounted_input(self) -> None:
        """Input seen by an idle protocol without counts: the second is active, nothing is counted."""
        with self._lock:
            if self._counting:
                now = self._wall_clock()
                self._mark_input(self._counts_at(now), now)

    def _counts_at(self, now: float) -> MinuteCounts:
        return self._book.counts_at(now)

    def _mark_input(self, counts: MinuteCounts, now: float) -> None:
        counts.active_mask |= 1 << (int(now) % SECONDS_PER_MINUTE)
        counts.last_input = now
        if now - self._last_input >= self._threshold_seconds:
            self._idle_return = (self._last_input, now)
            self._returns.append((self._last_input, now))
        self._last_input = now

    def _note_input_instant(self, moment: float, away: bool = True) -> None:
        """Input at ``moment`` (idle clock, start, resume; ``away``: the gap was an absence), uncounted."""
        counts = self._counts_at(moment)
        counts.last_input = max(counts.last_input, moment)
        if moment > self._last_input:
            if moment - self._last_input >= self._threshold_seconds:
                self._idle_return = self._idle_return or (self._last_input, moment)
                self._returns += [(self._last_input, moment)] if away else []
            self._last_input = moment

    # ---------------------------------------------------------------- settings (scheduler/GUI threads)
    def set_idle_threshold(self, seconds: int) -> None:
        """Apply a new idle threshold at once (also to minutes not yet collected)."""
        check_threshold(seconds)
        with self._lock:
            if float(seconds) == self._threshold_seconds:
                return
            self._threshold_seconds = float(seconds)
        logger.info("idle threshold is now %s s", seconds)
        self._report_state(self._wall_clock())

    def set_timezone(self, name: str) -> None:
        """Stamp samples with this zone from now on (IANA name or "local"); ConfigError if unknown."""
        time_manager.zone_name(name)
        with self._lock:
            self._timezone_name = name

    def set_paused(self, paused: bool) -> None:
        """Pause (count nothing, minutes are ``paused``) or resume counting."""
        self._set_switch("_paused", paused)

    def set_suspended(self, suspended: bool) -> None:
        """Suspend for low battery (count nothing, minutes are ``suspended``) or resume."""
        self._set_switch("_suspended", suspended)

    def _set_switch(self, name: str, on: bool) -> None:
        with self._lock:
            if on == getattr(self, name):
                return
            setattr(self, name, on)
            message = self._apply_mode_locked()
        if message is not None:
            logger.info("%s", message)

    def set_screen_locked(self, locked: bool) -> None:
        """The screen locked (count nothing, minutes are ``idle``) or unlocked (counts as input).

        Logs nothing: the engine's lock poll says "screen locked" / "screen unlocked" once each.
        """
        with self._lock:
            if locked == self._locked:
                return
            self._locked = locked
            self._apply_mode_locked()

    @property
    def screen_locked(self) -> bool:
        """Whether the screen was locked at the last lock poll."""
        with self._lock:
            return self._locked

    def note_asleep(self, began_at: float, ended_at: float) -> None:
        """The agent did not run from ``began_at`` to ``ended_at`` (POSIX s): those minutes are no data.

        Called on the scheduler thread on wake, before the next collect; re-reads the OS idle counter.
        """
        with self._lock:
            self._book.note_asleep(began_at, ended_at)
            self._last_position = None  # the pointer's travel across the gap was not seen
        self._consult_idle_clock()

    def _apply_mode_locked(self) -> str | None:
        now = self._wall_clock()
        mode = (
            STATE_PAUSED if self._paused
            else STATE_SUSPENDED if self._suspended
            else MODE_LOCKED if self._locked
            else STATE_TRACKING
        )
        previous_mode = self._modes.current
        if mode == previous_mode:  # e.g. the battery runs low while paused: still paused
            return None
        self._modes.change(now, mode)
        self._counting = mode == STATE_TRACKING
        if self._counting:
            # Resuming counts as input (no instant idle) and travel restarts from the next position.
            self._last_position = None
            self._idle_return = None
            self._note_input_instant(now, away=previous_mode == MODE_LOCKED)
            self._reported_state = STATE_TRACKING
            return None if previous_mode == MODE_LOCKED else f"tracking resumed (was {previous_mode})"
        if mode == MODE_LOCKED:
            self._reported_state = STATE_IDLE
            return None
        self._reported_state = mode
        return "tracking paused" if mode == STATE_PAUSED else "tracking suspended (battery low)"

    # ---------------------------------------------------------------- reading (scheduler/GUI threads)
    @property
    def timezone_name(self) -> str:
        """The configured zone ("local" or an IANA name)."""
        with self._lock:
            return self._timezone_name

    @property
    def idle_threshold_seconds(self) -> int:
        """The idle threshold in force, in seconds."""
        with self._lock:
            return int(self._threshold_seconds)

    @property
    def state(self) -> str:
        """The state now: ``tracking``, ``idle``, ``paused`` or ``suspended`` (logs a transition once)."""
        return self._report_state(self._wall_clock())

    def collect(self, now: float | None = None) -> list[MinuteSample]:
        """Every completed UTC minute since the last call, oldest first, as samples.

        Quiet minutes are included (``tracking`` with 0 active seconds, or ``idle``), as are
        ``paused`` and ``suspended`` minutes, so the server sees every minute the agent ran
        and none it slept through.
        """
        moment = self._wall_clock() if now is None else now
        self._consult_idle_clock()
        with self._lock:
            samples, skipped = self._collect_locked(moment)
        if skipped:
            logger.warning(
                "the clock jumped ahead: %s minutes older than 30 days were not recorded", skipped
            )
        self._report_state(moment, consult_idle_clock=False)
        return samples

    def _collect_locked(self, now: float) -> tuple[list[MinuteSample], int]:
        end_minute = int(now // SECONDS_PER_MINUTE)
        return self._book.collect(end_minute, self._threshold_seconds, self._zone_in_force())

    def _zone_in_force(self) -> str:
        try:
            return time_manager.zone_name(self._timezone_name)
        except ConfigError:  # cannot happen: names are checked when set
            return "UTC"

    def _consult_idle_clock(self) -> None:
        """Fold the OS idle counter in: input it saw but the listeners did not still means "not idle"."""
        if self._idle_clock is None:
            return
        idle_seconds = self._idle_clock.seconds_since_last_input()
        if idle_seconds is None:
            return
        with self._lock:
            if not self._counting:
                return
            now = self._wall_clock()
            last_input = now - idle_seconds
            if last_input - self._last_input > IDLE_CLOCK_TOLERANCE_SECONDS:
                self._note_input_instant(last_input)

    def _current_state_locked(self, now: float) -> str:
        if self._paused:
            return STATE_PAUSED
        if self._suspended:
            return STATE_SUSPENDED
        if self._locked:
            return STATE_IDLE
        return STATE_IDLE if now - self._last_input >= self._threshold_seconds else STATE_TRACKING

    def _report_state(self, now: float, consult_idle_clock: bool = True) -> str:
        """The state at ``now``; logs tracking<->idle transitions (one line each) outside the lock."""
        if consult_idle_clock:
            self._consult_idle_clock()
        with self._lock:
            state = self._current_state_locked(now)
            previous = self._reported_state
            self._reported_state = state
            idle_return = self._idle_return
            if state != STATE_IDLE:
                self._idle_return = None
            last_input = self._last_input
            threshold = self._threshold_seconds
            zone = self._timezone_name
        if previous == state:
            return state
        if state == STATE_IDLE:
            idle_since = time_manager.utc_from_timestamp(last_input + threshold)
            logger.info(
                "idle: no input for %d s since %s",
                threshold,
                time_manager.format_local_and_utc(time_manager.utc_from_timestamp(last_input), zone),
            )
            logger.debug("idle state began at %s", idle_since.isoformat())
        elif previous == STATE_IDLE and state == STATE_TRACKING:
            if idle_return is not None:
                before, after = idle_return
                logger.info(
                    "input again at %s after %d s without input: tracking",
                    time_manager.format_local_and_utc(time_manager.utc_from_timestamp(after), zone),
                    round(after - before),
                )
            else:
                logger.info("input again: tracking")
        return state

    def take_returns(self) -> list[tuple[float, float]]:
        """Absences (≥ the threshold) ended since the last call: (last input, next input), POSIX s."""
        with self._lock:
            returns, self._returns = self._returns, []
        return returns

    def keep_idle(self, began_at: float, ended_at: float) -> list[MinuteSample]:
        """Count an absence as work (``idle`` → ``idle_kept``); returns the collected minutes relabelled."""
        with self._lock:
            relabelled = self._book.keep_idle(began_at, ended_at)
        logger.info("%d idle minute(s) counted as work", len(relabelled))
        return relabelled

    def today_totals(self, zone_name: str | None = None, now: float | None = None) -> ActivityTotals:
        """Active seconds and counts since local midnight in the zone (default: the tracker's zone)."""
        moment = self._wall_clock() if now is None else now
        with self._lock:
            zone = zone_name or self._timezone_name
            local_day = time_manager.local_date(time_manager.utc_from_timestamp(moment), zone)
            day_start, _ = time_manager.local_day_bounds(local_day, zone)
            return self._book.totals(day_start.timestamp())

    def slot_activity_percent(self, now: float | None = None) -> int | None:
        """Activity % of the current 10-minute UTC slot so far (module docstring); None if nothing tracked."""
        moment = self._wall_clock() if now is None else now
        with self._lock:
            tracking_now = self._current_state_locked(moment) == STATE_TRACKING
            slot_begin = moment - moment % SLOT_SECONDS
            active, tracked = self._book.slot_seconds(
                slot_begin, moment, self._threshold_seconds, self._zone_in_force(), tracking_now
            )
        return activity_percent(active, tracked)

    def totals_between(self, start_seconds: float, end_seconds: float) -> ActivityTotals:
        """Active seconds and counts of the minutes starting in ``[start_seconds, end_seconds)``."""
        with self._lock:
            return self._book.totals(start_seconds, end_seconds)

    def __repr__(self) -> str:
        return f"ActivityTracker(state={self._reported_state!r}, idle_threshold={self._threshold_seconds:g}s)"
