"""The health probe while offline: a short capped back-off; on the server's return everything goes at once."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from agent.reachability import PROBE_MAX_SECONDS, ReachabilityProbe
from contract.errors import PermanentError, TransientError


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Server:
    """A /health check that fails while ``down``; records when it was asked."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.down = True
        self.asked_at: list[float] = []
        self.answer: Exception | None = None

    def check(self) -> None:
        self.asked_at.append(self.clock.now)
        if self.down:
            raise TransientError("health check: cannot reach the server (ConnectionError)")
        if self.answer is not None:
            raise self.answer


def _probe(clock: Clock, server: Server, offline: list[bool], back: list[float]) -> ReachabilityProbe:
    return ReachabilityProbe(check=server.check, is_offline=lambda: offline[0],
                             on_back=lambda: back.append(clock.now), monotonic=clock, rng=random.Random(7))


def _run(probe: ReachabilityProbe, clock: Clock, seconds: int) -> None:
    """One tick a second, as the scheduler runs it."""
    for _ in range(seconds):
        clock.now += 1
        probe.tick()


def test_nothing_is_probed_while_online() -> None:
    clock = Clock()
    server = Server(clock)
    probe = _probe(clock, server, [False], [])
    _run(probe, clock, 120)
    assert server.asked_at == [] and probe.probe_count == 0


def test_probes_back_off_from_two_seconds_and_never_wait_more_than_eight() -> None:
    clock = Clock()
    server = Server(clock)
    back: list[float] = []
    probe = _probe(clock, server, [True], back)
    _run(probe, clock, 300)
    gaps = [later - earlier for earlier, later in zip(server.asked_at, server.asked_at[1:], strict=False)]
    assert server.asked_at[0] - 1001 <= 3  # the first look comes within a short step of going offline
    assert gaps[0] <= 4 and max(gaps) <= PROBE_MAX_SECONDS + 1
    assert min(gaps[-10:]) >= 4  # it did back off to 4-8 s
    assert 300 / 9 < len(server.asked_at) < 300 / 3  # cheap: one probe every ~6 s
    assert back == []


def test_the_server_is_seen_back_within_ten_seconds_of_its_return_whenever_it_returns() -> None:
    for outage_seconds in (3, 17, 60, 600):
        clock = Clock()
        server = Server(clock)
        back: list[float] = []
        offline = [True]
        probe = _probe(clock, server, offline, back)
        _run(probe, clock, outage_seconds)
        server.down = False
        returned_at = clock.now
        for _ in range(12):
            clock.now += 1
            probe.tick()
            if back:
                offline[0] = False  # on_back sent what waited: the agent is online again
        assert len(back) == 1, outage_seconds
        assert back[0] - returned_at <= 9, outage_seconds


def test_any_answer_counts_as_back_even_a_refusal() -> None:
    clock = Clock()
    server = Server(clock)
    server.down = False
    server.answer = PermanentError("health check: HTTP 404")  # an older server without /health
    back: list[float] = []
    probe = _probe(clock, server, [True], back)
    _run(probe, clock, 5)
    assert len(back) >= 1


def test_a_new_outage_starts_again_from_the_short_step() -> None:
    clock = Clock()
    server = Server(clock)
    offline = [True]
    back: list[float] = []
    probe = _probe(clock, server, offline, back)
    _run(probe, clock, 120)  # backed off to 4-8 s
    offline[0] = False
    _run(probe, clock, 5)
    offline[0] = True
    went_offline = clock.now
    asked_before = len(server.asked_at)
    _run(probe, clock, 3)
    assert len(server.asked_at) == asked_before + 1 and server.asked_at[-1] - went_offline <= 3


# --------------------------------------------------------------------------- wired into the engine
def test_the_engine_sends_what_waits_as_soon_as_the_health_probe_gets_an_answer(tmp_path: Path) -> None:
    from activity_tracker import ActivityTracker
    from agent.engine import Agent
    from agent.outbox import Outbox
    from battery_manager import BatteryMonitor, BatteryPolicy
    from config_updater import ConfigPoller

    clock = Clock()
    start = 1_795_000_000.0 - (1_795_000_000.0 % 60)
    clock.now = start + 5
    down = [True]
    sent: list[int] = []
    health_calls: list[float] = []

    class Sender:
        def post_activity(self, samples: list[dict[str, Any]], agent: dict[str, int] | None = None) -> int:
            if down[0]:
                raise TransientError("activity upload: cannot reach the server (ConnectionError)")
            sent.append(len(samples))
            return len(samples)

        def check_health(self) -> None:
            health_calls.append(clock.now)
            if down[0]:
                raise TransientError("health check: cannot reach the server (ConnectionError)")

    class Source:
        def get_config(self, etag: str | None) -> Any:
            raise TransientError("config poll: cannot reach the server")

    tracker = ActivityTracker(idle_threshold_seconds=300, timezone_name="UTC", wall_clock=lambda: clock.now)
    agent = Agent(username="ann", sender=Sender(), tracker=tracker, input_source=None,
                  battery=BatteryMonitor(lambda: None, BatteryPolicy(20)), outbox=Outbox(tmp_path),
                  poller=ConfigPoller(Source(), tmp_path / "config.json"), monotonic=clock,
                  wall_clock=lambda: clock.now)
    probe = agent.reachability
    assert probe is not None, "a sender that can check /health gets a probe"
    tracker.on_key_press()
    for _ in range(200):  # 200 s of outage, the scheduler's jobs stepped by hand
        clock.now += 1
        if int(clock.now) % 5 == 0:
            agent.flush_activity()
        probe.tick()
    assert agent.status().offline and sent == [] and health_calls
    down[0] = False
    returned_at = clock.now
    while not sent and clock.now - returned_at < 30:
        clock.now += 1
        probe.tick()
    assert sent, "the waiting minutes went out"
    assert clock.now - returned_at <= 9  # the delivery's own back-off was ~64-128 s by now
    assert not agent.status().offline
