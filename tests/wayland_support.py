"""A headless sway for the Wayland tests: started as an unprivileged user (sway 1.7 refuses root).

``running_sway`` draws ``background`` (a PNG) on its one 1280x720 output, keeps its socket in a
private 0700 runtime folder, and hands out the environment a Wayland client needs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support import wait_until

NOBODY = 65534
OUTPUT_SIZE = (1280, 720)
WAYLAND_TOOLS = ("sway", "grim", "wtype", "swaymsg", "swaybg", "setpriv")


def missing_tools() -> list[str]:
    """The programs these tests need that this machine lacks (scripts/install-apt.sh installs them)."""
    return [tool for tool in WAYLAND_TOOLS if shutil.which(tool) is None]


@dataclass(frozen=True)
class Sway:
    """A running headless sway: its runtime folder and the variables a client of it needs."""

    runtime_dir: Path
    environ: dict[str, str]

    def run(self, *command: str) -> subprocess.CompletedProcess[bytes]:
        """Run a Wayland client program (wtype, grim, swaymsg) against this sway."""
        return subprocess.run(list(command), env=self.environ, capture_output=True, timeout=20, check=False)


def nobody_runtime_dir(root: Path, chown: bool = True) -> Path:
    """A 0700 ``XDG_RUNTIME_DIR`` under ``root`` (made 0755), owned by nobody when ``chown``.

    Compositors started as nobody (sway and mutter refuse or dislike root) need their own runtime folder.
    """
    root.chmod(0o755)
    runtime_dir = root / "runtime"
    runtime_dir.mkdir(mode=0o700)
    if chown:
        os.chown(runtime_dir, NOBODY, NOBODY)
    return runtime_dir


@contextmanager
def running_sway(background: Path) -> Iterator[Sway]:
    """A headless sway drawing ``background`` until the block ends."""
    with tempfile.TemporaryDirectory(prefix="vinova-sway-") as folder:
        root = Path(folder)
        runtime_dir = nobody_runtime_dir(root)
        picture = root / "background.png"
        shutil.copyfile(background, picture)
        picture.chmod(0o644)
        config = root / "sway.conf"
        width, height = OUTPUT_SIZE
        config.write_text(f"output HEADLESS-1 resolution {width}x{height} bg {picture} stretch\n")
        config.chmod(0o644)
        environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root),
                   "XDG_RUNTIME_DIR": str(runtime_dir), "WLR_BACKENDS": "headless",
                   "WLR_LIBINPUT_NO_DEVICES": "1", "WLR_RENDERER": "pixman"}
        log = (root / "sway.log").open("wb")
        process = subprocess.Popen(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
             "sway", "-c", str(config)],
            env=environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            socket = runtime_dir / "wayland-1"
            wait_until(lambda: socket.exists() or process.poll() is not None, 20, message="sway's socket")
            if process.poll() is not None:
                output = (root / "sway.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"sway did not start: {output}")
            ipc = next(iter(runtime_dir.glob("sway-ipc.*.sock")), None)
            client_environ = {"PATH": environ["PATH"], "XDG_RUNTIME_DIR": str(runtime_dir),
                              "WAYLAND_DISPLAY": "wayland-1", "XDG_SESSION_TYPE": "wayland",
                              "XDG_CURRENT_DESKTOP": "sway", **({"SWAYSOCK": str(ipc)} if ipc else {})}
            sway = Sway(runtime_dir, client_environ)
            # The background is drawn by swaybg once sway has started it: wait for a non-black frame.
            wait_until(lambda: _drawn(sway), 20, message="sway's background")
            yield sway
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
            log.close()


def _drawn(sway: Sway) -> bool:
    shot = sway.run("grim", "-t", "ppm", "-")
    # PPM: a text header, then pixels; all-zero pixels are the empty black output.
    return shot.returncode == 0 and shot.stdout[-4096:].strip(b"\0") != b""
