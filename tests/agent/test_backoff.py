"""The one Backoff: equal jitter, doubling to the cap, Retry-After, in-flight failures, on a fake clock."""

from __future__ import annotations

import random

import pytest

from agent.backoff import Backoff


def test_each_wait_lies_in_the_upper_half_of_a_doubling_step() -> None:
    backoff = Backoff(initial_seconds=1, max_seconds=300, rng=random.Random(7))
    steps = [min(300, 2**n) for n in range(12)]
    for step in steps:
        delay = backoff.failed(0.0)
        assert step / 2 <= delay <= step  # equal jitter, not full jitter's [0, step]


def test_backoff_grows_to_the_cap_and_honours_retry_after() -> None:
    backoff = Backoff(initial_seconds=1, max_seconds=300)
    delays = [backoff.failed(0.0) for _ in range(12)]
    assert delays[0] <= 1 and max(delays) <= 300 and delays[-1] >= 150
    assert backoff.failed(0.0, at_least_seconds=290) >= 290
    # Retry-After is honoured up to the cap: a server asking for more does not stall the agent.
    assert backoff.failed(0.0, at_least_seconds=400) == 300
    backoff.succeeded()
    assert backoff.ready(0.0)


def test_the_next_attempt_waits_on_the_monotonic_clock() -> None:
    backoff = Backoff(initial_seconds=4, max_seconds=60, rng=random.Random(1))
    now = 1000.0
    delay = backoff.failed(now)
    assert not backoff.ready(now + delay - 0.01)
    assert backoff.remaining(now) == pytest.approx(delay)
    assert backoff.ready(now + delay) and backoff.remaining(now + delay) == 0


def test_a_success_starts_the_steps_again_from_the_initial_one() -> None:
    backoff = Backoff(initial_seconds=1, max_seconds=300)
    for _ in range(6):
        backoff.failed(0.0)
    backoff.succeeded()
    assert backoff.failed(0.0) <= 1


def test_attempts_in_flight_during_a_failure_do_not_grow_the_step() -> None:
    backoff = Backoff(initial_seconds=10, max_seconds=300, rng=random.Random(3))
    # Four threads start at t=0; the first failure is seen at t=1, the other three just after.
    backoff.failed(1.0, started_at=0.0)
    for moment in (1.1, 1.2, 1.3):
        backoff.failed(moment, started_at=0.0)
    assert backoff.failures == 1
    # An attempt started after the last failure was seen is a new failure.
    assert 10 <= backoff.failed(20.0, started_at=15.0) <= 20
    assert backoff.failures == 2


def test_a_later_failure_never_moves_the_next_attempt_earlier() -> None:
    backoff = Backoff(initial_seconds=1, max_seconds=300)
    backoff.failed(0.0, at_least_seconds=100)
    backoff.failed(0.0, started_at=-1.0)  # an in-flight attempt with a short step
    assert not backoff.ready(99.0)


def test_a_refusal_waits_a_whole_maximum_step() -> None:
    backoff = Backoff(initial_seconds=1, max_seconds=300)
    assert 150 <= backoff.refused(0.0) <= 300
    assert not backoff.ready(149.0)
