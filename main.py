#!/usr/bin/env python3
"""The desktop agent: sign-in (email OTP), then the activity/screenshot engine, with a face.

``python main.py --headless`` runs the engine with a terminal sign-in (plain lines when stdin is
not a terminal, so it can be scripted). This module is a composition root: it builds the parts
from settings and wires them; the parts never import it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import logging.handlers
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import requests

from activity_tracker import ActivityTracker, InputSource
from agent.adapters.inputs import XScreenSaverIdleClock, choose_idle_clock, choose_input_source
from agent.adapters.screen import choose_grabber
from agent.client import ServerClient, SignedIn
from agent.engine import Agent, AgentSettings
from agent.outbox import Outbox
from agent.session import SavedSession, clear_session, load_session, save_session
from agent.spool import CaptureRecord, CaptureStore
from agent.uploaders import DirectS3Uploader, PresignedUploader, Uploader
from agent.worker import UploadWorker
from battery_manager import BatteryMonitor, BatteryPolicy, read_psutil_battery
from config_updater import ConfigPoller
from contract.errors import AuthError, ConfigError, SessionExpired, TransientError, VinovaError
from contract.private_files import write_private_file
from contract.s3 import make_s3_client
from contract.screenshots import JPEG_CONTENT_TYPE, SignedUpload
from screenshot_manager import ScreenshotManager
from time_manager import zone_name

log = logging.getLogger("vinova")

EXIT_OK = 0
EXIT_SIGN_IN_FAILED = 2
EXIT_BAD_SETTINGS = 3
LOG_FILE_BYTES = 1_000_000
LOG_FILE_COUNT = 5


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line flags; they win over the environment and ``.env``."""
    parser = argparse.ArgumentParser(prog="vinova", description="Vinova activity tracker agent")
    parser.add_argument("--headless", action="store_true", help="run without a window (terminal sign-in)")
    parser.add_argument("--server-url", dest="server_url", help="the Vinova server (VINOVA_SERVER_URL)")
    parser.add_argument("--agent-dir", dest="agent_dir", help="the agent's data folder (VINOVA_AGENT_DIR)")
    parser.add_argument("--log-level", dest="log_level", help="DEBUG, INFO, WARNING or ERROR")
    return parser.parse_args(argv)


def setup_logging(agent_dir: Path, level: str, console: TextIO | None = sys.stdout) -> None:
    """Log to the console and to a rotating file in the agent dir (0600)."""
    log_dir = agent_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_file = log_dir / "agent.log"
    if not log_file.exists():
        log_file.touch(mode=0o600)
    log_file.chmod(0o600)
    formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    file_handler = logging.handlers.RotatingFileHandler(
        log_file, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_COUNT, encoding="utf-8"
    )
    file_handler.setFormatter(formatter)
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(file_handler)
    if console is not None:
        console_handler = logging.StreamHandler(console)
        console_handler.setFormatter(formatter)
        root.addHandler(console_handler)
    # Third-party request logs could carry presigned URL queries; keep them quiet.
    for noisy in ("urllib3", "botocore", "boto3", "s3transfer", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# --------------------------------------------------------------------------- terminal sign-in
class TerminalPrompter:
    """Asks questions on the terminal; reads plain lines when stdin is not a terminal."""

    def __init__(self, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
        self._stdin = stdin
        self._stdout = stdout

    def say(self, text: str) -> None:
        """Show one line to the user."""
        print(text, file=self._stdout, flush=True)

    def ask(self, label: str, *, secret: bool = False) -> str:
        """One answer; EOF raises AuthError (nobody is there to answer)."""
        if secret and self._stdin.isatty():
            return getpass.getpass(f"{label}: ")
        print(f"{label}: ", end="", file=self._stdout, flush=True)
        line = self._stdin.readline()
        if not line:
            raise AuthError("no answer on standard input", code="no_input")
        return line.rstrip("\r\n")


def sign_in_on_terminal(client: ServerClient, prompter: TerminalPrompter, attempts: int = 3) -> SignedIn:
    """Username and password, then the emailed code (``resend`` asks for a new one)."""
    challenge = None
    for _ in range(attempts):
        username = prompter.ask("Username").strip()
        password = prompter.ask("Password", secret=True)
        try:
            challenge = client.login(username, password)
            break
        except AuthError as exc:
            if exc.code == "too_many_attempts":
                wait = f" Try again in {exc.retry_after_seconds} s." if exc.retry_after_seconds else ""
                raise AuthError(f"This account is locked for now.{wait}", code=exc.code) from exc
            prompter.say("Wrong username or password." if exc.code == "invalid_credentials" else str(exc))
    if challenge is None:
        raise AuthError("sign-in failed", code="invalid_credentials")
    prompter.say(f"We sent a 6-digit code to {challenge.sent_to}. Type it, or 'resend' for a new one.")
    while True:
        code = prompter.ask("Code").strip()
        try:
            if code.lower() == "resend":
                challenge = client.resend(challenge.challenge_id)
                prompter.say(f"A new code is on its way to {challenge.sent_to}.")
                continue
            return client.verify(challenge.challenge_id, code)
        except AuthError as exc:
            messages = {
                "invalid_code": "That code is not right. Try again.",
                "code_expired": "That code has expired. Type 'resend' for a new one.",
                "code_used": "That code was already used. Type 'resend' for a new one.",
                "resend_too_soon": f"Please wait {exc.retry_after_seconds or 30} s before asking again.",
            }
            if exc.code not in messages:
                raise
            prompter.say(messages[exc.code])


def restore_or_sign_in(
    settings: AgentSettings, client: ServerClient, prompter: TerminalPrompter
) -> tuple[str, bool]:
    """Reuse the saved token when the server still accepts it; otherwise sign in on the terminal.

    Returns (username, offline): when the server cannot be reached the saved session is used as is.
    """
    saved = load_session(settings.agent_dir, settings.server_url)
    if saved is not None:
        client.set_token(saved.token)
        try:
            client.whoami()
            log.info("signed in as %s (saved session)", saved.username)
            return saved.username, False
        except TransientError as exc:
            log.warning("cannot reach the server (%s): starting offline with the saved session", exc)
            return saved.username, True
        except (SessionExpired, VinovaError):
            log.info("the saved session has ended; please sign in again")
            clear_session(settings.agent_dir)
            client.set_token(None)
    signed_in = sign_in_on_terminal(client, prompter)
    save_session(
        settings.agent_dir,
        SavedSession(settings.server_url, signed_in.username, signed_in.token, signed_in.expires_at),
    )
    log.info("signed in as %s", signed_in.username)
    return signed_in.username, False


# --------------------------------------------------------------------------- wiring
def start_input_source() -> InputSource | None:
    """The platform's input listener, or None (logged) when there is no display to listen to."""
    try:
        return choose_input_source()
    except VinovaError as exc:
        log.error("input activity cannot be tracked: %s", exc)
        return None


def upload_prefix(settings: AgentSettings, client: ServerClient) -> str:
    """The key prefix captures go under: S3_PREFIX in direct mode, else the server's (cached for offline)."""
    if settings.s3_bucket:
        return settings.s3_prefix
    cache = settings.agent_dir / "server.json"
    try:
        prefix = str(client.whoami().get("upload_prefix", ""))
        write_private_file(cache, json.dumps({"upload_prefix": prefix}))
        return prefix
    except VinovaError as exc:
        log.info("using the cached upload prefix (%s)", exc)
    try:
        return str(json.loads(cache.read_text(encoding="utf-8")).get("upload_prefix", ""))
    except (OSError, ValueError):
        return ""


def build_uploader(settings: AgentSettings, client: ServerClient) -> Uploader:
    """Direct to the agent's own bucket when S3_BUCKET is set, else through URLs the server signs."""
    if settings.s3_bucket:
        log.info("uploads: direct to S3 bucket %s with this machine's AWS credentials", settings.s3_bucket)
        s3_client = make_s3_client(settings.aws_region, settings.s3_endpoint_url)
        return DirectS3Uploader(s3_client, settings.s3_bucket)

    def sign(record: CaptureRecord) -> SignedUpload:
        body = {"key": record.key, "content_type": JPEG_CONTENT_TYPE,
                "size_bytes": record.size_bytes, "sha256": record.sha256}
        return SignedUpload.from_json(client.sign_upload(body))

    log.info("uploads: through URLs signed by %s (no AWS keys on this machine)", settings.server_url)
    return PresignedUploader(sign, requests.Session())


def build_agent(
    settings: AgentSettings,
    client: ServerClient,
    username: str,
    on_session_expired: Callable[[], None],
) -> Agent:
    """Assemble the engine from its parts (the composition root's one job)."""
    agent_dir = settings.prepare_agent_dir()
    holder: dict[str, Agent] = {}
    poller = ConfigPoller(
        client,
        agent_dir / "config.json",
        on_change=lambda config, changes: holder["agent"].on_config_change(config, changes),
    )
    config = poller.current
    if poller.from_cache:
        log.info("using the cached config until the server answers")
    idle_clock = choose_idle_clock()
    tracker = ActivityTracker(
        idle_threshold_seconds=config.idle_threshold,
        timezone_name=config.timezone,
        idle_clock=idle_clock,
    )
    battery = BatteryMonitor(
        reader=read_psutil_battery,
        policy=BatteryPolicy(config.battery_threshold),
        on_change=lambda suspended, reading: None,
    )
    capture_store = CaptureStore(agent_dir)
    uploads = UploadWorker(
        store=capture_store,
        uploader=build_uploader(settings, client),
        register=lambda record: client.register_screenshot(record.to_registration_json()),
    )
    captures = ScreenshotManager(
        grab=choose_grabber(),
        store=capture_store,
        enqueue=uploads.enqueue,
        username=username,
        prefix=upload_prefix(settings, client),
        skip_reason=lambda: holder["agent"].capture_skip_reason(),
        timezone_name=lambda: zone_name(holder["agent"].poller.current.timezone),
        spool_limit_bytes=settings.spool_max_mb * 1024 * 1024,
    )
    agent = Agent(
        username=username,
        sender=client,
        tracker=tracker,
        input_source=start_input_source(),
        battery=battery,
        outbox=Outbox(agent_dir),
        poller=poller,
        captures=captures,
        uploads=uploads,
        on_session_expired=on_session_expired,
        release=(idle_clock.close,) if isinstance(idle_clock, XScreenSaverIdleClock) else (),
    )
    holder["agent"] = agent
    return agent


def run_headless(settings: AgentSettings, prompter: TerminalPrompter) -> int:
    """Sign in on the terminal, run the engine until SIGTERM/SIGINT, then stop cleanly."""
    client = ServerClient(settings.server_url)
    log.info("server %s, agent files in %s", settings.server_url, settings.agent_dir)
    try:
        username, _offline = restore_or_sign_in(settings, client, prompter)
    except (AuthError, TransientError) as exc:
        prompter.say(f"Sign-in failed: {exc}")
        return EXIT_SIGN_IN_FAILED
    session_ended = threading.Event()
    agent = build_agent(settings, client, username, on_session_expired=session_ended.set)
    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("received signal %s: stopping", signum)
        stopping.set()
        session_ended.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    agent.start()
    agent.poll_config()
    exit_code = EXIT_OK
    try:
        while not stopping.is_set():
            session_ended.wait(1.0)
            if stopping.is_set() or not session_ended.is_set():
                continue
            session_ended.clear()
            clear_session(settings.agent_dir)
            prompter.say("The server ended this session. Sign in again to continue.")
            try:
                username_again, _ = restore_or_sign_in(settings, client, prompter)
            except (AuthError, TransientError) as exc:
                prompter.say(f"Sign-in failed: {exc}")
                exit_code = EXIT_SIGN_IN_FAILED
                break
            if username_again != agent.username:
                prompter.say("Signed in as a different user: restart the agent to switch users.")
                exit_code = EXIT_SIGN_IN_FAILED
                break
            agent.session_renewed()
    finally:
        agent.stop()
    return exit_code


def display_available() -> bool:
    """Whether a window can be shown (Windows and macOS always have a desktop; X11 needs DISPLAY)."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: list[str] | None = None) -> int:
    """Entry point: the window by default (double-click), the terminal with --headless or no display."""
    args = parse_args(argv)
    # Everything the agent writes (database, WAL files, spool, logs) is for its owner only.
    os.umask(0o077)
    try:
        settings = AgentSettings.load(flags={k: v for k, v in vars(args).items() if k != "headless"})
    except ConfigError as exc:
        print(f"vinova: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    settings.prepare_agent_dir()
    use_window = not args.headless and display_available()
    setup_logging(settings.agent_dir, settings.log_level, console=sys.stdout if sys.stdout else None)
    if not use_window:
        if not args.headless:
            log.info("no display: running headless")
        return run_headless(settings, TerminalPrompter())
    from agent.window.controller import EXIT_NO_WINDOW, run_gui

    exit_code = run_gui(settings, ServerClient(settings.server_url), build_agent)
    if exit_code == EXIT_NO_WINDOW:  # e.g. Wayland without XWayland: Tk cannot open a window
        log.info("no window could be opened: running headless")
        return run_headless(settings, TerminalPrompter())
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
