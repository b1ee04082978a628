"""The activity tracker's bookkeeping: one minute's counters, the mode history, a minute's label,
and :class:`MinuteBook`, the minutes not yet handed out and those already collected.

Only :class:`activity_tracker.ActivityTracker` uses these, always under its own lock.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Mapping, Reversible
from dataclasses import dataclass

import time_manager
from contract.activity import (
    COUNT_FIELDS,
    SECONDS_PER_MINUTE,
    STATE_IDLE,
    STATE_IDLE_KEPT,
    STATE_PAUSED,
    STATE_SUSPENDED,
    STATE_TRACKING,
    TRACKED_STATES,
    MinuteSample,
    add_counts,
)
from contract.errors import ConfigError

# A mode of the tracker, never a sample's state: the screen is locked, so its minutes are ``idle``.
MODE_LOCKED = "locked"
# The server refuses minutes older than 30 days; after a longer clock jump older minutes are skipped
# (the last guard: a detected sleep already leaves its minutes out).
MAX_BACKLOG_MINUTES = 30 * 24 * 60
# Enough collected minutes to answer "today" on a 25-hour DST day.
HISTORY_MINUTES = 26 * 60


@dataclass(frozen=True, slots=True)
class ActivityTotals:
    """Summed activity over a span (e.g. today since local midnight)."""

    active_seconds: int = 0
    keys: int | None = 0  # None: not counted on this device (contract.activity.COUNT_FIELDS)
    clicks: int | None = 0
    scrolls: int | None = 0
    mouse_px: int | None = 0


class MinuteCounts:
    """Mutable counters of one UTC minute (only touched under the tracker's lock)."""

    __slots__ = ("active_mask", "clicks", "keys", "last_input", "mouse_px", "scrolls")

    def __init__(self) -> None:
        self.keys = 0
        self.clicks = 0
        self.scrolls = 0
        self.mouse_px = 0.0
        self.active_mask = 0  # bit n set: input happened in second n of the minute
        self.last_input = -math.inf  # seen, inferred from the idle clock, or a (re)start


class ModeHistory:
    """When counting was on (``tracking``), ``paused``, ``suspended``, locked: (since, mode), oldest first."""

    def __init__(self, started: float) -> None:
        self._modes: list[tuple[float, str]] = [(started, STATE_TRACKING)]

    @property
    def current(self) -> str:
        """The mode in force now."""
        return self._modes[-1][1]

    def change(self, since: float, mode: str) -> None:
        """Record that ``mode`` holds from ``since`` (POSIX seconds)."""
        self._modes.append((since, mode))

    def during(self, start_seconds: float, end_seconds: float) -> set[str]:
        """Every mode in force at some moment of ``[start_seconds, end_seconds)``."""
        in_force = self._modes[0][1]
        seen: set[str] = set()
        for since, mode in self._modes:
            if since <= start_seconds:
                in_force = mode
            elif since < end_seconds:
                seen.add(mode)
        seen.add(in_force)
        return seen

    def forget_before(self, moment: float) -> None:
        """Drop modes that ended before ``moment`` (the one in force at ``moment`` stays)."""
        keep_from = 0
        for index, (since, _mode) in enumerate(self._modes):
            if since <= moment:
                keep_from = index
        del self._modes[:keep_from]


def minute_sample(
    minute: int,
    counts: MinuteCounts | None,
    last_input: float,
    threshold_seconds: float,
    modes: ModeHistory,
    zone: str,
    counted: bool = True,
) -> MinuteSample:
    """The sample of UTC ``minute`` (minutes since the epoch), labelled as the tracker's docstring says.

    ``counted`` False: this device sees no input counts (Wayland without evdev), so they are None.
    """
    start_seconds = minute * SECONDS_PER_MINUTE
    end_seconds = start_seconds + SECONDS_PER_MINUTE
    minute_start = time_manager.utc_from_timestamp(start_seconds)
    offset_minutes = time_manager.utc_offset_minutes(minute_start, zone)
    if counts is not None and counts.active_mask:
        return MinuteSample(
            minute_start=minute_start,
            active_seconds=counts.active_mask.bit_count(),
            keys=counts.keys if counted else None,
            clicks=counts.clicks if counted else None,
            scrolls=counts.scrolls if counted else None,
            mouse_px=round(counts.mouse_px) if counted else None,
            state=STATE_TRACKING,
            timezone=zone,
            utc_offset_minutes=offset_minutes,
        )
    during = modes.during(start_seconds, end_seconds)
    if STATE_PAUSED in during:
        state = STATE_PAUSED
    elif STATE_SUSPENDED in during:
        state = STATE_SUSPENDED
    elif MODE_LOCKED in during:
        state = STATE_IDLE
    elif last_input + threshold_seconds < end_seconds:
        state = STATE_IDLE
    else:
        state = STATE_TRACKING
    return MinuteSample(
        minute_start=minute_start,
        active_seconds=0,
        keys=0 if counted else None,
        clicks=0 if counted else None,
        scrolls=0 if counted else None,
        mouse_px=0 if counted else None,
        state=state,
        timezone=zone,
        utc_offset_minutes=offset_minutes,
    )


def totals_since(
    history: Reversible[MinuteSample],
    open_minutes: Mapping[int, MinuteCounts],
    since_seconds: float,
    until_seconds: float = math.inf,
    counted: bool = True,
) -> ActivityTotals:
    """Collected samples (oldest first) and still-open minutes summed over ``[since, until)``.

    A count stays None only when no minute counted it (``contract.activity.add_counts``); the open
    minutes add theirs only when this device counts (``counted``).
    """
    active = 0
    sums: dict[str, list[int | None]] = {field: [] for field in COUNT_FIELDS}
    since = time_manager.utc_from_timestamp(since_seconds)
    for sample in reversed(history):  # newest first: stop at the first one too old
        if sample.minute_start < since:
            break
        if sample.minute_start.timestamp() >= until_seconds:
            continue
        active += sample.active_seconds
        for field in COUNT_FIELDS:
            sums[field].append(getattr(sample, field))
    for minute, counts in open_minutes.items():
        if since_seconds <= minute * SECONDS_PER_MINUTE < until_seconds:
            active += counts.active_mask.bit_count()
            if counted:
                sums["keys"].append(counts.keys)
                sums["clicks"].append(counts.clicks)
                sums["scrolls"].append(counts.scrolls)
                sums["mouse_px"].append(round(counts.mouse_px))
    totals = {field: add_counts(values) for field, values in sums.items()}
    if counted:  # nothing yet on a counting device is 0, not "not counted"
        totals = {field: value or 0 for field, value in totals.items()}
    return ActivityTotals(active, **totals)


def check_threshold(seconds: int) -> None:
    """ConfigError unless ``seconds`` is a positive number (an idle threshold)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        raise ConfigError({"idle_threshold": "must be a positive number of seconds"})


class MinuteBook:
    """The open minutes' counters, the collected history and the spans the agent slept through."""

    def __init__(self, started: float, counted: bool = True) -> None:
        self.counted = counted  # False: no input counts on this device, its samples carry None
        self.next_minute = int(started // SECONDS_PER_MINUTE)  # the oldest minute not yet handed out
        self.open: dict[int, MinuteCounts] = {}
        self.modes = ModeHistory(started)
        self.history: deque[MinuteSample] = deque(maxlen=HISTORY_MINUTES)
        self._cached_minute = -1
        self._cached_counts = MinuteCounts()
        self._last_input_before_open = started
        self._asleep: list[tuple[float, float]] = []  # (began, ended) POSIX seconds
        self._kept: list[tuple[float, float]] = []  # absences counted as work (began, ended) POSIX seconds

    def counts_at(self, now: float) -> MinuteCounts:
        """The counters of the minute holding ``now`` (never one already handed out)."""
        minute = int(now // SECONDS_PER_MINUTE)
        if minute == self._cached_minute:
            return self._cached_counts
        # A clock stepped back must not reopen a minute already handed out.
        minute = max(minute, self.next_minute)
        counts = self.open.get(minute)
        if counts is None:
            counts = self.open[minute] = MinuteCounts()
        self._cached_minute = minute
        self._cached_counts = counts
        return counts

    def note_asleep(self, began_at: float, ended_at: float) -> None:
        """The agent did not run in ``[began_at, ended_at)``: the minutes wholly inside get no sample."""
        self._asleep.append((began_at, ended_at))

    def collect(self, end_minute: int, threshold_seconds: float, zone: str) -> tuple[list[MinuteSample], int]:
        """Hand out the minutes before ``end_minute``: (samples, minutes skipped as older than 30 days)."""
        if end_minute <= self.next_minute:
            return [], 0
        skipped = max(0, end_minute - MAX_BACKLOG_MINUTES - self.next_minute)
        samples, last_input = self.labelled(self.next_minute, end_minute, threshold_seconds, zone)
        for minute in [minute for minute in self.open if minute < end_minute]:
            del self.open[minute]
        self.next_minute = end_minute
        self._last_input_before_open = last_input
        if self._cached_minute < end_minute:
            self._cached_minute = -1
        self.modes.forget_before(end_minute * SECONDS_PER_MINUTE)
        # A span ending before the next minute ends can no longer hold a whole minute.
        self._asleep = [span for span in self._asleep if span[1] >= (end_minute + 1) * SECONDS_PER_MINUTE]
        self._kept = [span for span in self._kept if span[1] > end_minute * SECONDS_PER_MINUTE]
        self.history.extend(samples)
        return samples, skipped

    def labelled(
        self, first_minute: int, end_minute: int, threshold_seconds: float, zone: str
    ) -> tuple[list[MinuteSample], float]:
        """Samples of the open minutes in ``[first_minute, end_minute)`` (none popped), and the last input."""
        last_input = max(
            [self._last_input_before_open]
            + [counts.last_input for minute, counts in self.open.items() if minute < first_minute]
        )
        oldest_kept = end_minute - MAX_BACKLOG_MINUTES
        samples: list[MinuteSample] = []
        for minute in range(max(first_minute, self.next_minute), end_minute):
            counts = self.open.get(minute)
            if counts is not None:
                last_input = max(last_input, counts.last_input)
            if minute < oldest_kept or self._slept_through(minute):
                continue
            sample = minute_sample(
                minute, counts, last_input, threshold_seconds, self.modes, zone, self.counted
            )
            if sample.state == STATE_IDLE and self._is_kept(minute):
                sample = dataclasses.replace(sample, state=STATE_IDLE_KEPT)
            samples.append(sample)
        return samples, last_input

    def _is_kept(self, minute: int) -> bool:
        start = minute * SECONDS_PER_MINUTE
        return any(began < start + SECONDS_PER_MINUTE and start < ended for began, ended in self._kept)

    def keep_idle(self, began_at: float, ended_at: float) -> list[MinuteSample]:
        """Relabel the ``idle`` minutes overlapping ``[began_at, ended_at)`` as ``idle_kept``.

        The collected ones are changed in the history and returned (to be sent again); the
        minutes not collected yet get the label when they are.
        """
        self._kept.append((began_at, ended_at))
        relabelled: list[MinuteSample] = []
        for index, sample in enumerate(self.history):
            start = sample.minute_start.timestamp()
            if sample.state == STATE_IDLE and began_at < start + SECONDS_PER_MINUTE and start < ended_at:
                kept = dataclasses.replace(sample, state=STATE_IDLE_KEPT)
                self.history[index] = kept
                relabelled.append(kept)
        return relabelled

    def _slept_through(self, minute: int) -> bool:
        start = minute * SECONDS_PER_MINUTE
        return any(began <= start and start + SECONDS_PER_MINUTE <= ended for began, ended in self._asleep)

    def slot_seconds(
        self, slot_begin: float, now: float, threshold_seconds: float, zone: str, tracking_now: bool
    ) -> tuple[int, float]:
        """(active, tracked) seconds from ``slot_begin`` to ``now``: 60 per ``tracking`` minute, and the
        seconds so far of the open minute when it had input or the tracker is tracking now."""
        active = 0
        tracked = 0.0
        current_minute = int(now // SECONDS_PER_MINUTE)
        since = time_manager.utc_from_timestamp(slot_begin)
        for sample in reversed(self.history):  # newest first: stop at the first one too old
            if sample.minute_start < since:
                break
            active += sample.active_seconds
            tracked += SECONDS_PER_MINUTE if sample.state in TRACKED_STATES else 0
        first_minute = int(slot_begin // SECONDS_PER_MINUTE)
        pending, _ = self.labelled(first_minute, current_minute, threshold_seconds, zone)
        for sample in pending:
            active += sample.active_seconds
            tracked += SECONDS_PER_MINUTE if sample.state in TRACKED_STATES else 0
        counts = self.open.get(current_minute)
        open_active = counts.active_mask.bit_count() if counts is not None else 0
        so_far_seconds = now - current_minute * SECONDS_PER_MINUTE
        if open_active:
            tracked += max(open_active, math.ceil(so_far_seconds))
        elif tracking_now:
            tracked += so_far_seconds
        return active + open_active, tracked

    def totals(self, since_seconds: float, until_seconds: float = math.inf) -> ActivityTotals:
        """Collected and open minutes summed over ``[since_seconds, until_seconds)``."""
        return totals_since(self.history, self.open, since_seconds, until_seconds, self.counted)
