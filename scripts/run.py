"""What ``make run`` starts: the server on embedded defaults, then the desktop agent signed in against it.

1. The server (SQLite, local screenshot store, mail outbox in ./data) starts in the background;
   its log goes to ``data/server.log``. On the very first start an admin account is created and
   its name and generated password are printed once.
2. While no SMTP_HOST is set, every sign-in code mailed to the outbox is printed here too.
3. The agent starts in the foreground: the window when there is a display, else the terminal
   (``main.py --headless``). When it exits, the server stops.

``--server-only`` serves without the agent (e.g. on a machine that only hosts the server).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from email import message_from_bytes
from pathlib import Path

import requests

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from flask import Flask

from app import configure_logging, create_app
from contract.errors import ConfigError
from server.context import services_of

logger = logging.getLogger(__name__)

FIRST_ADMIN_NAME = "admin"
FIRST_ADMIN_EMAIL_VARIABLE = "VINOVA_ADMIN_EMAIL"
CODE_PATTERN = re.compile(rb"\b(\d{6})\b")
SERVER_START_SECONDS = 60


def ensure_first_admin(app: Flask) -> tuple[str, str] | None:
    """Create the first admin when there is no account at all; return (name, password) or None."""
    context = services_of(app)
    if context.auth.user_count() > 0:
        return None
    password = secrets.token_urlsafe(15)
    email = context.settings.get(FIRST_ADMIN_EMAIL_VARIABLE)
    context.auth.create_user(FIRST_ADMIN_NAME, email, password, admin=True)
    return FIRST_ADMIN_NAME, password


def print_banner(lines: list[str]) -> None:
    """A framed block the user will notice between log lines."""
    print("=" * 72)
    for line in lines:
        print(line)
    print("=" * 72, flush=True)


def watch_outbox(outbox_dir: Path, stop: threading.Event) -> None:
    """Print the code of every new mail in the outbox (the embedded stand-in for a mailbox)."""
    seen = set(outbox_dir.glob("*.eml")) if outbox_dir.is_dir() else set()
    while not stop.wait(0.5):
        if not outbox_dir.is_dir():
            continue
        for path in sorted(set(outbox_dir.glob("*.eml")) - seen):
            seen.add(path)
            message = message_from_bytes(path.read_bytes())
            part = message.get_payload(decode=True) if not message.is_multipart() else b""
            body = part if isinstance(part, bytes) else b""
            match = CODE_PATTERN.search(body)
            if match is not None:
                print_banner([f"Sign-in code for {message.get('To')}: {match.group(1).decode()}",
                              "(no SMTP_HOST is set, so mail goes to the outbox; this is its latest code)"])


def wait_for_server(url: str, process: subprocess.Popen[bytes], stop: threading.Event) -> None:
    """Wait until /health answers, or fail with the server's own log when it exits."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline and not stop.is_set():
        if process.poll() is not None:
            raise SystemExit("the server stopped during start-up; see data/server.log")
        try:
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        stop.wait(0.2)
    raise SystemExit(f"the server did not answer on {url} within {SERVER_START_SECONDS} s")


def has_display() -> bool:
    """Whether a window can be shown here."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: list[str] | None = None) -> int:
    """Start the server, print the first admin's credentials, then run the agent until it exits."""
    parser = argparse.ArgumentParser(description="Run Vinova on embedded defaults")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--server-only", action="store_true", help="serve without starting the agent")
    arguments = parser.parse_args(argv)
    configure_logging("WARNING")
    try:
        app = create_app()
    except ConfigError as exc:
        raise SystemExit(f"invalid settings: {exc}") from exc
    context = services_of(app)
    url = f"http://{arguments.host}:{arguments.port}"
    created = ensure_first_admin(app)
    context.database.dispose()
    admin_lines = [] if created is None else [
        "First start: created the admin account (the password is shown only now):",
        f"  username: {created[0]}", f"  password: {created[1]}"]
    if context.settings.smtp.host is None:
        admin_lines.append(f"Sign-in codes are written as .eml files to {context.settings.outbox_dir}")
    if arguments.server_only:
        print_banner([f"Vinova server: {url}   (admin pages: {url}/admin/)", *admin_lines])
        from app import main as serve

        serve(["--host", arguments.host, "--port", str(arguments.port)])
        return 0

    log_path = context.settings.data_dir / "server.log"
    with log_path.open("ab") as server_log:
        os.chmod(log_path, 0o600)
        server = subprocess.Popen(
            [sys.executable, str(PROJECT_DIR / "app.py"),
             "--host", arguments.host, "--port", str(arguments.port)],
            cwd=PROJECT_DIR, stdout=server_log, stderr=subprocess.STDOUT,
        )
    stop = threading.Event()
    agent: subprocess.Popen[bytes] | None = None

    def on_terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_terminate)
    try:
        wait_for_server(url, server, stop)
        lines = [f"Vinova server: {url}   (admin pages: {url}/admin/, log: {log_path})", *admin_lines]
        if created is None:
            lines.append("Sign in with an existing account (flask --app app create-user adds one).")
        print_banner(lines)
        if context.settings.smtp.host is None:
            threading.Thread(target=watch_outbox, args=(context.settings.outbox_dir, stop),
                             name="outbox-watch", daemon=True).start()
        agent_command = [sys.executable, str(PROJECT_DIR / "main.py"), "--server-url", url]
        if not has_display():
            print("No display here: running the agent in the terminal (main.py --headless).", flush=True)
            agent_command.append("--headless")
        agent = subprocess.Popen(agent_command, cwd=PROJECT_DIR)
        return agent.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        stop.set()
        if agent is not None and agent.poll() is None:
            agent.terminate()
            try:
                agent.wait(10)
            except subprocess.TimeoutExpired:
                agent.kill()
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
