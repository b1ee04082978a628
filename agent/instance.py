"""One Vinova per agent folder: an OS file lock, and a local doorbell the second start rings.

The first start takes an exclusive lock on ``instance.lock`` in the agent folder (``fcntl.flock`` on
Linux and macOS, ``msvcrt.locking`` on Windows). The operating system drops the lock when the
process ends, however it ends, so a ``kill -9`` never leaves a stale lock behind. The holder also
listens on a localhost TCP port and writes its pid, that port and a random token to
``instance.json`` (owner-only). A second start that cannot take the lock reads that file, rings
the doorbell (the first shows its window) and stops with :class:`AlreadyRunning`.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from contract.errors import VinovaError
from contract.private_files import write_private_file

log = logging.getLogger(__name__)

LOCK_FILE_NAME = "instance.lock"
INFO_FILE_NAME = "instance.json"
SHOW_COMMAND = "show"
DOORBELL_TIMEOUT_SECONDS = 2.0
# The holder writes instance.json right after it takes the lock; a second start that comes in
# between waits this long for it.
INFO_WAIT_SECONDS = 3.0


class AlreadyRunning(VinovaError):
    """Another Vinova holds this agent folder; ``pid`` is its process id (None when unknown)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        super().__init__(f"Vinova is already running (pid {pid})" if pid else "Vinova is already running")


@dataclass(frozen=True, slots=True)
class HolderInfo:
    """What the running instance tells a second start: its pid and where its doorbell is."""

    pid: int
    port: int
    token: str

    @classmethod
    def read(cls, path: Path) -> HolderInfo | None:
        """The info file's contents, or None when it is missing, partly written or damaged."""
        try:
            raw: Any = json.loads(path.read_text(encoding="utf-8"))
            return cls(pid=int(raw["pid"]), port=int(raw["port"]), token=str(raw["token"]))
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return None


def _try_lock(handle: IO[bytes]) -> bool:
    """Take the exclusive lock without waiting; False when another process holds it."""
    if sys.platform == "win32":
        import msvcrt

        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def ring(info: HolderInfo, timeout_seconds: float = DOORBELL_TIMEOUT_SECONDS) -> bool:
    """Ask the running instance to show its window; False when it did not answer."""
    try:
        with socket.create_connection(("127.0.0.1", info.port), timeout=timeout_seconds) as connection:
            connection.sendall(f"{SHOW_COMMAND} {info.token}\n".encode())
            return connection.recv(16).startswith(b"ok")
    except OSError:
        return False


class InstanceLock:
    """Holds the agent folder for this process until :meth:`release` (or the process's end)."""

    def __init__(self, agent_dir: Path, on_show: Callable[[], None] | None = None) -> None:
        self.agent_dir = agent_dir
        self.lock_path = agent_dir / LOCK_FILE_NAME
        self.info_path = agent_dir / INFO_FILE_NAME
        self._on_show = on_show
        self._handle: IO[bytes] | None = None
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._token = secrets.token_urlsafe(16)
        self._stop = threading.Event()

    def on_show(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the doorbell thread) whenever a second start asks for the window."""
        self._on_show = callback

    def acquire(self) -> None:
        """Take the folder, or ring the holder's doorbell and raise :class:`AlreadyRunning`."""
        descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        handle = os.fdopen(descriptor, "r+b", buffering=0)
        if not _try_lock(handle):
            handle.close()
            info = self._wait_for_info()
            if info is not None and ring(info):
                log.info("asked the running Vinova (pid %s) to show its window", info.pid)
            raise AlreadyRunning(info.pid if info is not None else None)
        self._handle = handle
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.5)
        port = int(self._server.getsockname()[1])
        holder = {"pid": os.getpid(), "port": port, "token": self._token}
        write_private_file(self.info_path, json.dumps(holder))
        self._thread = threading.Thread(target=self._answer, name="instance-doorbell", daemon=True)
        self._thread.start()

    def _wait_for_info(self) -> HolderInfo | None:
        """The holder's info; polls briefly because the holder writes it just after locking."""
        done = threading.Event()
        waited = 0.0
        while True:
            info = HolderInfo.read(self.info_path)
            if info is not None or waited >= INFO_WAIT_SECONDS:
                return info
            done.wait(0.1)
            waited += 0.1

    def _answer(self) -> None:
        """The doorbell: one line per connection; only a caller that read instance.json knows the token."""
        assert self._server is not None
        while not self._stop.is_set():
            try:
                connection, _address = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                connection.settimeout(DOORBELL_TIMEOUT_SECONDS)
                try:
                    line = connection.recv(256).decode("ascii", "replace").strip()
                    if line != f"{SHOW_COMMAND} {self._token}":
                        connection.sendall(b"no\n")
                        continue
                    connection.sendall(b"ok\n")
                except OSError:
                    continue
            log.debug("the doorbell rang")
            callback = self._on_show
            if callback is not None:
                try:
                    callback()
                except Exception:  # the doorbell thread's job boundary: log, keep answering
                    log.exception("showing the window failed")

    def release(self) -> None:
        """Close the doorbell and drop the lock (idempotent)."""
        self._stop.set()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        if self._handle is not None:
            try:
                self.info_path.unlink(missing_ok=True)
            except OSError:
                pass
            self._handle.close()  # closing the file drops the flock / msvcrt lock
            self._handle = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
