"""One Vinova per agent folder: the lock, the doorbell, a killed holder, and main.py's second start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import free_port, wait_until

from agent.instance import INFO_FILE_NAME, AlreadyRunning, HolderInfo, InstanceLock, ring

PROJECT_DIR = Path(__file__).resolve().parents[2]
HOLDER_SCRIPT = (
    "import sys; from pathlib import Path; from agent.instance import InstanceLock\n"
    "lock = InstanceLock(Path(sys.argv[1])); lock.acquire(); print('locked', flush=True); sys.stdin.read()\n"
)


@pytest.fixture
def lock(tmp_path: Path) -> Iterator[InstanceLock]:
    held = InstanceLock(tmp_path)
    held.acquire()
    yield held
    held.release()


def test_a_second_lock_on_the_folder_is_refused_with_the_holders_pid(
    lock: InstanceLock, tmp_path: Path
) -> None:
    with pytest.raises(AlreadyRunning, match=rf"^Vinova is already running \(pid {os.getpid()}\)$") as caught:
        InstanceLock(tmp_path).acquire()
    assert caught.value.pid == os.getpid()


def test_the_second_start_rings_and_the_first_is_asked_to_show_its_window(
    lock: InstanceLock, tmp_path: Path
) -> None:
    asked = threading.Event()
    lock.on_show(asked.set)
    with pytest.raises(AlreadyRunning):
        InstanceLock(tmp_path).acquire()
    assert asked.wait(5)


def test_a_caller_without_the_token_cannot_ring(lock: InstanceLock, tmp_path: Path) -> None:
    asked = threading.Event()
    lock.on_show(asked.set)
    info = HolderInfo.read(tmp_path / INFO_FILE_NAME)
    assert info is not None
    assert not ring(HolderInfo(info.pid, info.port, "guessed"))
    assert ring(info)
    assert asked.wait(5)


def test_the_info_file_is_owner_only_and_removed_on_release(tmp_path: Path) -> None:
    held = InstanceLock(tmp_path)
    held.acquire()
    info_path = tmp_path / INFO_FILE_NAME
    assert info_path.stat().st_mode & 0o077 == 0
    held.release()
    held.release()  # idempotent
    assert not info_path.exists()
    again = InstanceLock(tmp_path)
    again.acquire()
    again.release()


@pytest.mark.integration
def test_a_holder_killed_with_sigkill_never_blocks_the_next_start(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER_SCRIPT, str(tmp_path)], cwd=PROJECT_DIR,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"locked"
        with pytest.raises(AlreadyRunning) as caught:
            InstanceLock(tmp_path).acquire()
        assert caught.value.pid == holder.pid
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()
    assert (tmp_path / INFO_FILE_NAME).exists()  # left behind by the killed holder: only a hint
    fresh = InstanceLock(tmp_path)
    fresh.acquire()
    fresh.release()


# --------------------------------------------------------------------------- main.py, as a user starts it
def _start(agent_dir: Path, output: Path) -> subprocess.Popen[bytes]:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("VINOVA_") and key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    environment.update({"VINOVA_AGENT_DIR": str(agent_dir), "HOME": str(agent_dir.parent / "home"),
                        "VINOVA_SERVER_URL": f"http://127.0.0.1:{free_port()}", "PYTHONUNBUFFERED": "1"})
    with output.open("wb") as handle:
        return subprocess.Popen(
            [sys.executable, str(PROJECT_DIR / "main.py"), "--headless", "--allow-no-input"],
            cwd=agent_dir.parent, env=environment, stdin=subprocess.PIPE, stdout=handle,
            stderr=subprocess.STDOUT,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)
    if process.stdin is not None:
        process.stdin.close()


@pytest.mark.integration
def test_a_second_headless_start_says_already_running_and_a_kill_9_frees_the_folder(tmp_path: Path) -> None:
    agent_dir = tmp_path / "agent"
    first = _start(agent_dir, tmp_path / "first.txt")
    try:
        wait_until(lambda: "Username:" in (tmp_path / "first.txt").read_text(), 30,
                   message="the first start's sign-in prompt")
        second = _start(agent_dir, tmp_path / "second.txt")
        try:
            assert second.wait(30) == 6
        finally:
            _stop(second)
        assert f"Vinova is already running (pid {first.pid})" in (tmp_path / "second.txt").read_text()
        wait_until(lambda: "another start asked for the window" in (tmp_path / "first.txt").read_text(), 10,
                   message="the first start hearing the doorbell")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        third = _start(agent_dir, tmp_path / "third.txt")
        try:
            wait_until(lambda: "Username:" in (tmp_path / "third.txt").read_text(), 30,
                       message="a start after kill -9 reaching the sign-in prompt")
        finally:
            _stop(third)
    finally:
        _stop(first)


@pytest.mark.integration
def test_a_second_start_brings_back_the_hidden_window_of_the_first(tmp_path: Path, xvfb: Any) -> None:
    agent_dir = tmp_path / "agent"
    environment = {**os.environ, "DISPLAY": xvfb.name, "HOME": str(tmp_path / "home"),
                   "VINOVA_AGENT_DIR": str(agent_dir), "VINOVA_SERVER_URL": f"http://127.0.0.1:{free_port()}"}
    environment.pop("WAYLAND_DISPLAY", None)

    def visible_windows() -> list[str]:
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^Vinova"], env=environment,
                               capture_output=True, text=True, timeout=20, check=False)
        return found.stdout.split()

    first = subprocess.Popen([sys.executable, str(PROJECT_DIR / "main.py")], cwd=tmp_path, env=environment,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        windows = wait_until(visible_windows, 60, interval=0.2, message="the first start's window")
        for window in windows:
            subprocess.run(["xdotool", "windowunmap", "--sync", window], env=environment, check=True,
                           timeout=20)
        wait_until(lambda: not visible_windows(), 10, message="the window hidden")
        second = subprocess.run([sys.executable, str(PROJECT_DIR / "main.py")], cwd=tmp_path, env=environment,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 6
        assert f"Vinova is already running (pid {first.pid})" in second.stderr
        wait_until(visible_windows, 10, interval=0.2, message="the first start's window shown again")
    finally:
        first.send_signal(signal.SIGTERM)
        try:
            first.wait(15)
        except subprocess.TimeoutExpired:
            first.kill()
            first.wait(10)
