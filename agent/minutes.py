"""The activity tracker's bookkeeping: one minute's counters, the mode history, a minute's label.

Only :class:`activity_tracker.ActivityTracker` uses these, always under its own lock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Reversible
from dataclasses import dataclass

import time_manager
from contract.activity import (
    SECONDS_PER_MINUTE,
    STATE_IDLE,
    STATE_PAUSED,
    STATE_SUSPENDED,
    STATE_TRACKING,
    MinuteSample,
)


@dataclass(frozen=True, slots=True)
class ActivityTotals:
    """Summed activity over a span (e.g. today since local midnight)."""

    active_seconds: int = 0
    keys: int = 0
    clicks: int = 0
    scrolls: int = 0
    mouse_px: int = 0


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
    """When counting was on (``tracking``), ``paused`` or ``suspended``: (since, mode), oldest first."""

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
) -> MinuteSample:
    """The sample of UTC ``minute`` (minutes since the epoch), labelled as the tracker's docstring says."""
    start_seconds = minute * SECONDS_PER_MINUTE
    end_seconds = start_seconds + SECONDS_PER_MINUTE
    minute_start = time_manager.utc_from_timestamp(start_seconds)
    offset_minutes = time_manager.utc_offset_minutes(minute_start, zone)
    if counts is not None and counts.active_mask:
        return MinuteSample(
            minute_start=minute_start,
            active_seconds=counts.active_mask.bit_count(),
            keys=counts.keys,
            clicks=counts.clicks,
            scrolls=counts.scrolls,
            mouse_px=round(counts.mouse_px),
            state=STATE_TRACKING,
            timezone=zone,
            utc_offset_minutes=offset_minutes,
        )
    during = modes.during(start_seconds, end_seconds)
    if STATE_PAUSED in during:
        state = STATE_PAUSED
    elif STATE_SUSPENDED in during:
        state = STATE_SUSPENDED
    elif last_input + threshold_seconds < end_seconds:
        state = STATE_IDLE
    else:
        state = STATE_TRACKING
    return MinuteSample(
        minute_start=minute_start,
        active_seconds=0,
        keys=0,
        clicks=0,
        scrolls=0,
        mouse_px=0,
        state=state,
        timezone=zone,
        utc_offset_minutes=offset_minutes,
    )


def totals_since(
    history: Reversible[MinuteSample],
    open_minutes: Mapping[int, MinuteCounts],
    since_seconds: float,
    until_seconds: float = math.inf,
) -> ActivityTotals:
    """Collected samples (oldest first) and still-open minutes summed over ``[since, until)``."""
    active = keys = clicks = scrolls = mouse_px = 0
    since = time_manager.utc_from_timestamp(since_seconds)
    for sample in reversed(history):  # newest first: stop at the first one too old
        if sample.minute_start < since:
            break
        if sample.minute_start.timestamp() >= until_seconds:
            continue
        active += sample.active_seconds
        keys += sample.keys
        clicks += sample.clicks
        scrolls += sample.scrolls
        mouse_px += sample.mouse_px
    for minute, counts in open_minutes.items():
        if since_seconds <= minute * SECONDS_PER_MINUTE < until_seconds:
            active += counts.active_mask.bit_count()
            keys += counts.keys
            clicks += counts.clicks
            scrolls += counts.scrolls
            mouse_px += round(counts.mouse_px)
    return ActivityTotals(active, keys, clicks, scrolls, mouse_px)
