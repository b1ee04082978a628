"""One backoff for everything the agent retries: activity sends (engine) and uploads (worker)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

BACKOFF_INITIAL_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0


@dataclass
class Backoff:
    """Exponential backoff with *equal* jitter, on the monotonic clock (seconds).

    The n-th failure in a row waits a random time in ``[step / 2, step]`` with
    ``step = min(max_seconds, initial_seconds * 2 ** (n - 1))``: at least half the step, so a
    fleet of agents spreads out but still backs off (full jitter would draw from ``[0, step]``).
    A server's Retry-After raises the wait, up to ``max_seconds``. Not thread-safe: callers on
    several threads (the upload worker) hold their own lock.
    """

    initial_seconds: float = BACKOFF_INITIAL_SECONDS
    max_seconds: float = BACKOFF_MAX_SECONDS
    rng: random.Random = field(default_factory=random.Random)
    failures: int = field(default=0, init=False)
    next_attempt_at: float = field(default=0.0, init=False)
    last_failure_at: float | None = field(default=None, init=False)

    def ready(self, now: float) -> bool:
        """Whether the next attempt may go at ``now``."""
        return now >= self.next_attempt_at

    def remaining(self, now: float) -> float:
        """Seconds until the next attempt may go (0 when it may go now)."""
        return max(0.0, self.next_attempt_at - now)

    def failed(
        self, now: float, at_least_seconds: float | None = None, started_at: float | None = None
    ) -> float:
        """Record a failure at ``now``; returns the wait before the next attempt.

        ``started_at`` is when the failed attempt began: an attempt already in flight when the
        previous failure was recorded does not grow the step again (one outage seen by four upload
        threads is one failure). The next attempt never moves earlier than already planned.
        """
        in_flight_before = (
            started_at is not None and self.last_failure_at is not None and started_at < self.last_failure_at
        )
        if not in_flight_before or self.failures == 0:
            self.failures += 1
        self.last_failure_at = now
        step = min(self.max_seconds, self.initial_seconds * 2 ** min(self.failures - 1, 60))
        return self._wait(now, step, at_least_seconds)

    def refused(self, now: float) -> float:
        """Record a refusal retrying soon cannot fix: wait a full maximum step (the slowest pace)."""
        self.failures += 1
        self.last_failure_at = now
        return self._wait(now, self.max_seconds, None)

    def succeeded(self) -> None:
        """Reset after a success: the next failure starts from the initial step again."""
        self.failures = 0
        self.next_attempt_at = 0.0
        self.last_failure_at = None

    def _wait(self, now: float, step: float, at_least_seconds: float | None) -> float:
        delay = step / 2 + self.rng.uniform(0, step / 2)
        if at_least_seconds is not None:
            delay = max(delay, min(at_least_seconds, self.max_seconds))
        self.next_attempt_at = max(self.next_attempt_at, now + delay)
        return delay
