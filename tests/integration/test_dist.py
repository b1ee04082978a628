"""The built agent (``make dist``: dist/vinova/vinova), run as a user would, without Python or the checkout.

The executable is started from another folder with a clean environment (only DISPLAY, HOME and
VINOVA_* set, as ``env -i`` would leave it), signs in headless against a real server (the code
arrives by real SMTP) and delivers activity minutes and a capture. ``make test`` builds dist/
first (``make dist``, only when a source changed); run alone, this module reuses dist/ when it is
newer than every source, else builds into a temporary folder (about a minute).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from headless_support import PASSWORD, AgentServer
from server_support import latest_code
from support import free_port, wait_until

from agent.version import __version__

pytestmark = pytest.mark.integration

PROJECT_DIR = Path(__file__).resolve().parents[2]
DIST_EXECUTABLE = PROJECT_DIR / "dist" / "vinova" / "vinova"
BUILD_TIMEOUT_SECONDS = 900


def newest_source_seconds() -> float:
    """The modification time of the newest file the executable is built from."""
    sources = [*PROJECT_DIR.glob("*.py"), *PROJECT_DIR.glob("agent/**/*.py"),
               *PROJECT_DIR.glob("contract/**/*.py"), *PROJECT_DIR.glob("packaging/*"),
               PROJECT_DIR / "requirements.txt",
               PROJECT_DIR / "requirements-build.txt"]
    return max(path.stat().st_mtime for path in sources if path.is_file())


@pytest.fixture(scope="module")
def executable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/vinova/vinova when it is up to date, else a fresh build in a temporary folder."""
    if DIST_EXECUTABLE.is_file() and DIST_EXECUTABLE.stat().st_mtime >= newest_source_seconds():
        return DIST_EXECUTABLE
    build_dir = tmp_path_factory.mktemp("build")
    pyinstaller = Path(sys.executable).parent / "pyinstaller"
    assert pyinstaller.is_file(), "PyInstaller is missing: make dist installs requirements-build.txt"
    result = subprocess.run(
        [str(pyinstaller), "--noconfirm", "--log-level", "WARN", "--distpath", str(build_dir / "dist"),
         "--workpath", str(build_dir / "work"), str(PROJECT_DIR / "packaging" / "vinova.spec")],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return build_dir / "dist" / "vinova" / "vinova"


def folder_megabytes(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1_000_000


def clean_env(home: Path, **values: str) -> dict[str, str]:
    """What ``env -i`` leaves plus what the agent needs: no PATH, no PYTHON*, no virtualenv."""
    return {"HOME": str(home), **values}


def test_the_executable_prints_its_version_from_any_folder_without_python(
    executable: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    result = subprocess.run([str(executable), "--version"], cwd=tmp_path, env=clean_env(tmp_path),
                            capture_output=True, text=True, timeout=60)
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"vinova {__version__}"
    # No Python interpreter or project file is needed next to it: it is one self-contained folder.
    folder = executable.parent
    assert not (folder / "main.py").exists() and (folder / "_internal").is_dir()
    print(f"\nbuilt folder: {folder_megabytes(folder):.0f} MB; --version in {seconds:.2f} s")


@pytest.fixture
def agent_process(executable: Path, tmp_path: Path, xvfb: Any, agent_server: AgentServer) -> Iterator[Any]:
    """The folder unpacked somewhere else, the server preset by a .env beside it, started from a third."""
    unpacked = tmp_path / "Applications" / "vinova"
    shutil.copytree(executable.parent, unpacked, symlinks=True)
    (unpacked / ".env").write_text(f"VINOVA_SERVER_URL={agent_server.url}\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environment = clean_env(tmp_path / "home", DISPLAY=xvfb.name, VINOVA_AGENT_DIR=str(tmp_path / "agent"))
    output = tmp_path / "agent.out"
    with output.open("wb") as handle:
        process = subprocess.Popen([str(unpacked / "vinova"), "--headless"], cwd=elsewhere, env=environment,
                                   stdin=subprocess.PIPE, stdout=handle, stderr=subprocess.STDOUT)
    try:
        yield process, output
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if process.stdin is not None:
            process.stdin.close()


def test_the_executable_signs_in_headless_and_delivers_minutes_and_a_capture(
    agent_process: tuple[subprocess.Popen[bytes], Path], agent_server: AgentServer, smtp_server: Any,
) -> None:
    process, output = agent_process
    started = time.monotonic()
    agent_server.set_user_config(screenshot_interval=10, config_poll_interval=5)
    assert process.stdin is not None
    wait_until(lambda: "Username:" in output.read_text(errors="replace"), 60, message="the sign-in prompt")
    process.stdin.write(f"ann\n{PASSWORD}\n".encode())
    process.stdin.flush()
    smtp_server.wait_for_message("ann@example.com", count=1, timeout=30)
    process.stdin.write(f"{latest_code(smtp_server, 'ann@example.com')}\n".encode())
    process.stdin.flush()
    wait_until(lambda: "agent started for ann" in output.read_text(errors="replace"), 60,
               message="the built agent to start")
    assert f"vinova {__version__}" in output.read_text(errors="replace")
    shots = wait_until(lambda: agent_server.get("/api/screenshots", username="ann")["screenshots"], 60,
                       interval=0.5, message="a capture from the built agent")
    assert shots[0]["width"] > 0 and shots[0]["size_bytes"] > 0
    samples = wait_until(lambda: agent_server.samples(), 100, interval=1,
                         message="a minute from the built agent")
    first_minute_seconds = time.monotonic() - started
    assert any(sample["active_seconds"] >= 0 for sample in samples)
    print(f"\nbuilt agent: start to first minute on the server in {first_minute_seconds:.0f} s")
    process.terminate()
    assert process.wait(20) == 0


def test_the_built_app_opens_its_window_from_the_menu_and_stays_one_instance(
    executable: Path, tmp_path: Path, xvfb: Any
) -> None:
    agent_dir = tmp_path / "agent"
    environment = clean_env(tmp_path / "home", DISPLAY=xvfb.name, XDG_DATA_HOME=str(tmp_path / "share"),
                            VINOVA_AGENT_DIR=str(agent_dir), VINOVA_SERVER_URL=f"http://127.0.0.1:{free_port()}")
    installed = subprocess.run([str(executable), "--install-desktop-entry"], cwd=tmp_path, env=environment,
                               capture_output=True, text=True, timeout=60)
    assert installed.returncode == 0, installed.stderr
    entry = tmp_path / "share" / "applications" / "vinova.desktop"
    assert f"Exec={executable}" in entry.read_text(encoding="utf-8").splitlines()
    launched: subprocess.Popen[bytes] | None = None
    if shutil.which("gio") is not None:  # as the desktop's menu starts it
        subprocess.run(["gio", "launch", str(entry)], env=environment, check=True, timeout=30)
    else:  # no GLib here: run the entry's Exec line as the menu would
        exec_line = next(line for line in entry.read_text(encoding="utf-8").splitlines()
                         if line.startswith("Exec="))
        launched = subprocess.Popen(shlex.split(exec_line.removeprefix("Exec=")), cwd=tmp_path,
                                    env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    info = agent_dir / "instance.json"
    try:
        def window_shown() -> bool:
            found = subprocess.run(["xdotool", "search", "--name", "^Vinova"], env=environment,
                                   capture_output=True, text=True, timeout=20, check=False)
            return bool(found.stdout.split())

        wait_until(window_shown, 60, interval=0.2, message="the built app's window")
        pid = json.loads(info.read_text(encoding="utf-8"))["pid"]
        second = subprocess.run([str(executable)], cwd=tmp_path, env=environment, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 6
        assert f"Vinova is already running (pid {pid})" in second.stderr
        log_file = agent_dir / "logs" / "agent.log"
        wait_until(lambda: "another start asked for the window" in log_file.read_text(errors="replace"), 10,
                   message="the first app hearing the second start")
    finally:
        if info.exists():
            os.kill(json.loads(info.read_text(encoding="utf-8"))["pid"], signal.SIGTERM)
    wait_until(lambda: not info.exists(), 20, message="the built app to close on SIGTERM")
    if launched is not None:
        launched.wait(20)
