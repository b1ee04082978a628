"""Notices the server's return after an outage within seconds: a cheap ``GET /health`` probe while offline.

Runs on the scheduler thread (:meth:`ReachabilityProbe.tick`, every second; it returns at once
unless a probe is due). While the agent is offline the probe asks ``/health`` on a short, capped
back-off (about 2 → 4 → 8 s, then every 8 s), so the window turns green within ~10 s of the
server's return, while activity sends and uploads keep their own, longer back-off
(:class:`agent.backoff.Backoff` up to 5 min). When the server answers, ``on_back`` sends what
waits at once. Any answer counts as back (a 404 from an older server without ``/health`` too);
only a network failure, a timeout or a 5xx/503 counts as still away.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from agent.backoff import Backoff
from contract.errors import PermanentError, SessionExpired, TransientError

log = logging.getLogger(__name__)

PROBE_INITIAL_SECONDS = 2.0
PROBE_MAX_SECONDS = 8.0
TICK_SECONDS = 1


class ReachabilityProbe:
    """While ``is_offline()``: ``check()`` (GET /health) on a capped back-off; ``on_back()`` on an answer."""

    def __init__(
        self,
        *,
        check: Callable[[], None],
        is_offline: Callable[[], bool],
        on_back: Callable[[], None],
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._check = check
        self._is_offline = is_offline
        self._on_back = on_back
        self._monotonic = monotonic
        self._backoff = Backoff(PROBE_INITIAL_SECONDS, PROBE_MAX_SECONDS, rng or random.Random())
        self._was_offline = False
        self.probe_count = 0  # probes sent since start (the bench and the tests read it)

    def tick(self) -> None:
        """Probe when offline and due; otherwise return at once (scheduler thread)."""
        if not self._is_offline():
            self._was_offline = False
            return
        now = self._monotonic()
        if not self._was_offline:  # just went offline: the first probe after one short step
            self._was_offline = True
            self._backoff.succeeded()
            self._backoff.failed(now)
            return
        if not self._backoff.ready(now):
            return
        self.probe_count += 1
        try:
            self._check()
        except TransientError as exc:
            delay = self._backoff.failed(now)
            log.debug("the server is still away (%s); next look in %.0f s", exc, delay)
            return
        except (PermanentError, SessionExpired):
            pass  # it answered: reachable, whatever it thinks of the request
        self._backoff.succeeded()
        self._was_offline = False
        log.info("the server answers again: sending what waits")
        self._on_back()
