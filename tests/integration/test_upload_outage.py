"""An S3 outage with two kill -9s of the agent: afterwards every capture is in the bucket exactly once."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import S3Server, start_s3_server
from support import wait_until

from contract.s3 import make_s3_client

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).with_name("capture_process.py")
BUCKET = "vinova-outage"


class AgentProcess:
    """capture_process.py, with its stdout lines collected by a reader thread."""

    def __init__(self, agent_dir: Path, endpoint_url: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(SCRIPT),
                "--agent-dir",
                str(agent_dir),
                "--endpoint-url",
                endpoint_url,
                "--bucket",
                BUCKET,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        assert self.next_line() == "ready"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def next_line(self, timeout: float = 20) -> str:
        return self.lines.get(timeout=timeout)

    def send(self, command: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.next_line()

    def capture(self) -> str:
        answer = self.send("capture")
        assert answer.startswith("captured ") and answer != "captured -", answer
        return answer.removeprefix("captured ")

    def counts(self) -> tuple[int, int, int]:
        _, queued, uploaded, kept_aside = self.send("status").split()
        return int(queued), int(uploaded), int(kept_aside)

    def kill_hard(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._close_pipes()

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill_hard()
        self._close_pipes()

    def _close_pipes(self) -> None:
        """Close our ends once the process is gone (pytest turns unclosed files into errors)."""
        self.reader.join(5)  # the reader sees EOF once the process is gone
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None and not pipe.closed:
                try:
                    pipe.close()
                except BrokenPipeError:  # stdin: buffered text the dead process can no longer read
                    pass


def test_twenty_captures_survive_an_outage_and_two_kill_9s(s3_server: S3Server, tmp_path: Path) -> None:
    agent_dir = tmp_path / "agent"
    port = s3_server.port
    s3_server.stop()  # the outage starts before the first capture
    keys: list[str] = []
    processes: list[AgentProcess] = []
    restarted: S3Server | None = None
    try:
        for _ in range(2):
            agent = AgentProcess(agent_dir, s3_server.endpoint_url)
            processes.append(agent)
            keys += [agent.capture() for _ in range(10)]
            assert agent.counts()[1] == 0  # nothing got through the outage
            agent.kill_hard()
        assert len(set(keys)) == 20
        assert len(list((agent_dir / "spool").glob("*.jpg"))) == 20

        restarted = start_s3_server(port)
        client: Any = make_s3_client("us-east-1", restarted.endpoint_url)
        client.create_bucket(Bucket=BUCKET)
        agent = AgentProcess(agent_dir, restarted.endpoint_url)
        processes.append(agent)
        wait_until(lambda: agent.counts() == (0, 20, 0), timeout=60, message="the spool to drain")
        agent.stop()

        listed = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        assert sorted(item["Key"] for item in listed) == sorted(keys)
        assert list((agent_dir / "spool").iterdir()) == []
    finally:
        for process in processes:
            process.stop()
        if restarted is not None and restarted.process.poll() is None:
            restarted.stop()
