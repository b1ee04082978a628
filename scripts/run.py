"""What ``make run`` starts: the server on embedded defaults, then the desktop agent signed in against it.

1. The server (SQLite, local screenshot store, mail outbox in ./data) starts in the background;
   its log goes to ``data/server.log``. On the very first start an admin account is created and
   its name and generated password are printed once.
2. While no SMTP_HOST is set, every sign-in code mailed to the outbox is printed here too.
3. The agent starts in the foreground: the window when there is a display, else the terminal
   (``main.py --headless``). When it exits, the server stops.

``--server-only`` serves without the agent (e.g. on a machine that only hosts the server).
``make run PORT=5050`` serves on another port. A port another program holds is named on the terminal
and nothing starts (``make run`` never attaches to a server it did not start); when the server it
started stops, the terminal says so.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import secrets
import signal
import socket
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
SERVER_WATCH_SECONDS = 0.5
EXIT_PORT_TAKEN = 2


def port_number(text: str) -> int:
    """A TCP port from the command line (argparse says plainly what is wrong)."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: use a number from 1 to 65535")
    return port


def port_taken(host: str, port: int) -> bool:
    """Whether another program listens on host:port (bound as the server binds, SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def port_taken_message(host: str, port: int) -> str:
    """The plain words for a taken port, with a free one to try instead."""
    free = next((other for other in range(port + 50, port + 100) if not port_taken(host, other)), None)
    hint = f"; try make run PORT={free}" if free is not None else "; try make run PORT=<another port>"
    return f"port {port} is in use by another program{hint}"


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


def wait_for_server(
    url: str, process: subprocess.Popen[bytes], stop: threading.Event, log_path: Path
) -> None:
    """Wait until /health answers while our server runs, or fail with the end of its log when it exits."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline and not stop.is_set():
        if process.poll() is not None:
            tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]
            print("\n".join(tail), file=sys.stderr)
            raise SystemExit(
                f"the server stopped during start-up (exit code {process.returncode}); see {log_path}")
        try:
            answered = requests.get(f"{url}/health", timeout=1).status_code == 200
        except requests.RequestException:
            answered = False
        if answered and process.poll() is None:  # the answer is ours only while our server runs
            return
        stop.wait(0.2)
    raise SystemExit(f"the server did not answer on {url} within {SERVER_START_SECONDS} s")


def watch_server(process: subprocess.Popen[bytes], stop: threading.Event, log_path: Path) -> None:
    """Say so on the terminal when the server stops while the agent runs."""
    while not stop.wait(SERVER_WATCH_SECONDS):
        code = process.poll()
        if code is None:
            continue
        if not stop.is_set():
            print_banner([f"The Vinova server stopped (exit code {code}); its log: {log_path}",
                          "The agent keeps what it records and sends it once a server answers again.",
                          "Press Ctrl+C to stop, then run make run again."])
        return


def has_display() -> bool:
    """Whether a window can be shown here."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: list[str] | None = None) -> int:
    """Start the server, print the first admin's credentials, then run the agent until it exits."""
    parser = argparse.ArgumentParser(description="Run Vinova on embedded defaults")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port_number, default=5000, help="1-65535 (make run PORT=5050)")
    parser.add_argument("--server-only", action="store_true", help="serve without starting the agent")
    arguments = parser.parse_args(argv)
    if port_taken(arguments.host, arguments.port):  # before anything is created or started
        print(port_taken_message(arguments.host, arguments.port), file=sys.stderr, flush=True)
        return EXIT_PORT_TAKEN
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
        wait_for_server(url, server, stop, log_path)
        lines = [f"Vinova server: {url}   (admin pages: {url}/admin/, log: {log_path})", *admin_lines]
        if created is None:
            lines.append("Sign in with an existing account (flask --app app create-user adds one).")
        print_banner(lines)
        if context.settings.smtp.host is None:
            threading.Thread(target=watch_outbox, args=(context.settings.outbox_dir, stop),
                             name="outbox-watch", daemon=True).start()
        agent_command = [sys.executable, str(PROJECT_DIR / "main.py"), "--server-url", url]
        if not has_display():
            print("No display here: running the agent in the terminal (main.py --headless), "
                  "without keyboard and mouse activity (--allow-no-input).", flush=True)
            agent_command += ["--headless", "--allow-no-input"]
        threading.Thread(target=watch_server, args=(server, stop, log_path), name="server-watch",
                         daemon=True).start()
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
