"""A headless agent frozen with SIGSTOP, then continued: its frozen minutes are no data on the server.

Real parts: ``main.py --headless`` on Xvfb, a live server over HTTP, the code by SMTP. The freeze
starts 42-50 s into a minute and lasts 85 s, so the next minute lies wholly inside it.
"""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from headless_support import AgentProcess, AgentServer, agent_env, minute
from support import wait_until

pytestmark = pytest.mark.integration

FREEZE_SECONDS = 85


def test_a_frozen_agent_sends_no_minute_it_was_frozen_in_and_restarts_its_listeners(
    agent_server: AgentServer, smtp_server: Any, xvfb: Any, tmp_path: Path
) -> None:
    server = agent_server
    env = agent_env(xvfb, tmp_path, server)
    server.set_user_config(capture_enabled=False)
    agent = AgentProcess(env, tmp_path / "agent.out", subprocess.PIPE)
    try:
        agent.sign_in(smtp_server)
        wait_until(lambda: "input listeners started" in agent.text(), 30, message="the agent to listen")
        wait_until(lambda: 42 <= datetime.now(UTC).second < 50, 61, interval=0.2, message="second 42")

        frozen_at = datetime.now(UTC)
        agent.process.send_signal(signal.SIGSTOP)
        thaw_at = time.monotonic() + FREEZE_SECONDS
        try:
            # The freeze's length is the stimulus itself, not a wait for something to happen.
            wait_until(lambda: time.monotonic() >= thaw_at, FREEZE_SECONDS + 5, interval=0.5, message="thaw")
        finally:
            agent.process.send_signal(signal.SIGCONT)
        freeze_minute = frozen_at.replace(second=0, microsecond=0)
        frozen_minute = freeze_minute + timedelta(minutes=1)

        # The minute the freeze began in completed while frozen; the first flush after the thaw sends it,
        # in the same collect that would have sent the frozen minute after it.
        wait_until(lambda: any(minute(s) == freeze_minute for s in server.samples()), 30,
                   interval=0.5, message="the minute the freeze began in")
        wait_until(lambda: "input listeners restarted after the sleep" in agent.text(), 20,
                   message="the listeners restarted")
        sent = {minute(s) for s in server.samples()}
        assert agent.terminate() == 0
    finally:
        if agent.process.poll() is None:
            agent.kill()

    assert frozen_minute not in sent  # before: sent as a tracking minute with 0 active seconds
    assert "resumed after 1 min asleep" in agent.text()
