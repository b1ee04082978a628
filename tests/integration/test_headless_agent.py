"""The headless agent end to end: real Xvfb + xdotool, a real server over HTTP, real SMTP for the code.

One scenario, because every step needs whole UTC minutes to pass: sign in on stdin, inject
input, see the exact counts on the server, change config live, kill -9 and restart, and check
that every minute arrived exactly once and that typed text is stored nowhere.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from headless_support import AgentProcess, AgentServer, agent_env, minute, xdotool
from support import wait_until

PHRASE = "zebra quantum marmalade"

pytestmark = pytest.mark.integration


def totals(samples: list[dict[str, Any]]) -> dict[str, int]:
    return {field: sum(int(s[field]) for s in samples) for field in ("keys", "clicks", "scrolls", "mouse_px")}


def test_headless_agent_delivers_exact_counts_survives_kill_9_and_stores_no_typed_text(
    agent_server: AgentServer, smtp_server: Any, xvfb: Any, tmp_path: Path
) -> None:
    server = agent_server
    agent_dir = tmp_path / "agent"
    env = agent_env(xvfb, tmp_path, server)
    server.set_user_config(config_poll_interval=5, capture_enabled=False)

    # The pointer starts where the test will first move it, so travel is exactly 100 moves of 10 px.
    xdotool("mousemove", "100", "200")

    # Sign in on stdin: username, password, then the code that arrived by SMTP.
    first = AgentProcess(env, tmp_path / "agent-1.out", subprocess.PIPE)
    try:
        first.sign_in(smtp_server)
        wait_until(lambda: "agent started for ann" in first.text(), 30, message="the agent to start")
        assert (agent_dir / "session.json").stat().st_mode & 0o777 == 0o600
        assert agent_dir.stat().st_mode & 0o777 == 0o700

        # Exact input: 50 key presses, 100 mouse moves of 10 px, 10 clicks, 5 scroll steps, a phrase.
        xdotool("key", "--delay", "15", *(["a"] * 50))
        for step in range(101):
            xdotool("mousemove", str(100 + 10 * step), "200")
        xdotool("click", "--repeat", "10", "--delay", "30", "1")
        xdotool("click", "--repeat", "5", "--delay", "30", "4")
        xdotool("type", "--delay", "15", PHRASE)
        expected_px = 1000  # the first move only gives the tracker its starting point

        def counts_arrived() -> dict[str, int] | None:
            sums = totals(server.samples())
            return sums if sums["keys"] >= 50 + len(PHRASE) and sums["scrolls"] >= 5 else None

        sums = wait_until(counts_arrived, 100, interval=1, message="the minute's counts on the server")
        assert sums is not None
        assert sums["keys"] == 50 + len(PHRASE)
        assert sums["clicks"] == 10
        assert sums["scrolls"] == 5
        assert abs(sums["mouse_px"] - expected_px) <= 2

        # A live config change is applied within one poll (5 s) and logged with old → new.
        server.set_user_config(idle_threshold=45)
        wait_until(lambda: "idle_threshold 300 → 45" in first.text(), 20, message="the config change")

        # kill -9 mid-minute, then restart on the saved session (no sign-in needed).
        before_kill = {minute(s) for s in server.samples()}
    finally:
        first.kill()
    killed_at = datetime.now(UTC)
    second = AgentProcess(env, tmp_path / "agent-2.out", subprocess.DEVNULL)
    try:
        wait_until(lambda: "signed in as ann (saved session)" in second.text(), 30,
                   message="the restarted agent to reuse its session")
        restart_minute = killed_at.replace(second=0, microsecond=0)

        def minute_after_restart_arrived() -> bool:
            return any(minute(s) >= restart_minute for s in server.samples())

        wait_until(minute_after_restart_arrived, 100, interval=1, message="a minute after the restart")
        exit_code = second.terminate()
    finally:
        if second.process.poll() is None:
            second.kill()
    assert exit_code == 0

    samples = server.samples()
    minutes = sorted(minute(s) for s in samples)
    assert len(minutes) == len(set(minutes)), "a minute arrived twice"
    assert before_kill <= set(minutes)
    # No completed minute before the kill is missing: the run is contiguous up to the killed minute.
    first_minute = minutes[0]
    minutes_before_kill = int((restart_minute - first_minute) / timedelta(minutes=1))
    expected_before_kill = {first_minute + timedelta(minutes=n) for n in range(minutes_before_kill)}
    assert expected_before_kill <= set(minutes)
    # Nothing counted twice across the restart.
    assert totals(samples)["keys"] == 50 + len(PHRASE)

    # Privacy: the typed phrase is nowhere — agent files, logs, output, server database.
    for word in PHRASE.split():
        needle = word.encode()
        for path in [*agent_dir.rglob("*"), tmp_path / "agent-1.out", tmp_path / "agent-2.out",
                     tmp_path / "server.db"]:
            if path.is_file():
                assert needle not in path.read_bytes(), f"{word!r} found in {path}"
    for path in agent_dir.rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, f"{path} is open to others"
