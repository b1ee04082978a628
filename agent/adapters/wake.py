"""Noticing that the agent was not running: a suspended machine or a frozen (SIGSTOP) process.

The OS clocks are the seam: ``wall_clock`` (POSIX seconds, advances during suspend) and
``monotonic`` (seconds, stops during suspend on Linux; both advance while the process is frozen).
Only the scheduler thread calls :class:`ClockWatch`; it never blocks.

Two signs, added up (a frozen process can also be suspended):
    suspend   the wall clock ran ahead of the monotonic clock between two ticks of the scheduler
              loop (measured across the whole loop, so a slow job does not count);
    frozen    a scheduler wait lasted longer on the monotonic clock than it was asked to (measured
              across the wait only: a job blocked on a 10 s HTTP timeout is not a freeze).
A wall clock stepped forward (NTP, the user) looks like a suspend, and its minutes were indeed
never lived by the agent; a step backwards is ignored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# The scheduler loop waits at most 1 s and the activity flush runs every 5 s. A gap of 30 s is
# 30 waits and 6 flushes missed: no busy machine stalls a thread that long, while swap, a GC
# pause or a loaded CPU (a few seconds) must not count as sleep. A shorter gap could not hold a
# whole minute's worth of missing data anyway.
ASLEEP_AFTER_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Gap:
    """A span in which the agent did not run: ``began_at``..``ended_at`` in POSIX seconds."""

    began_at: float
    ended_at: float

    @property
    def seconds(self) -> float:
        """How long the agent was away."""
        return self.ended_at - self.began_at


class ClockWatch:
    """Tells, at each scheduler tick, whether the agent was asleep since the last one."""

    def __init__(
        self,
        *,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        asleep_after_seconds: float = ASLEEP_AFTER_SECONDS,
    ) -> None:
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._asleep_after_seconds = asleep_after_seconds
        self._wall_mark = wall_clock()
        self._monotonic_mark = monotonic()
        self._wait_began: float | None = None
        self._wait_seconds = 0.0

    def waiting(self, seconds: float) -> None:
        """The scheduler is about to wait ``seconds``."""
        self._wait_began = self._monotonic()
        self._wait_seconds = seconds

    def check(self) -> Gap | None:
        """After a wait: the gap since the last check when longer than the bound, else None."""
        wall = self._wall_clock()
        monotonic = self._monotonic()
        drift = (wall - self._wall_mark) - (monotonic - self._monotonic_mark)
        overrun = 0.0
        if self._wait_began is not None:
            overrun = (monotonic - self._wait_began) - self._wait_seconds
        self._wall_mark = wall
        self._monotonic_mark = monotonic
        self._wait_began = None
        away = max(0.0, drift) + max(0.0, overrun)
        if away < self._asleep_after_seconds:
            return None
        return Gap(began_at=wall - away, ended_at=wall)


def span_text(seconds: float) -> str:
    """A gap in the log's words: ``"45 s"``, ``"12 min"``, ``"1 h 12 min"``, ``"2 d 3 h"``."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"
