#!/usr/bin/env python3
"""The desktop agent: sign-in (email OTP), then the activity/screenshot engine, with a face.

``python main.py --headless`` runs the engine with a terminal sign-in (plain lines when stdin is
not a terminal, so it can be scripted). This module is a composition root: it builds the parts
from settings and wires them; the parts never import it.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import requests

from activity_tracker import ActivityTracker
from agent.adapters.inputs import choose_idle_clock, choose_input_source, choose_lock_state
from agent.adapters.screen import choose_monitor_grabber
from agent.adapters.session import detect_session
from agent.adapters.wayland_choice import counting_words
from agent.autostart import AutostartChoice, choose_autostart
from agent.client import ServerClient
from agent.desktop_entry import install_desktop_entry, launch_command
from agent.desktop_notes import DesktopNotes, GuardedGrabber
from agent.device import load_or_create_device
from agent.engine import Agent
from agent.events import EventHub
from agent.gate import CaptureGate
from agent.instance import AlreadyRunning, InstanceLock
from agent.memory import limit_malloc_arenas
from agent.outbox import Outbox
from agent.seams import IdleClock, InputSource
from agent.session import clear_session
from agent.settings import DEFAULT_SERVER_URL, AgentSettings, default_agent_dir
from agent.signin import TerminalPrompter, restore_or_sign_in
from agent.spool import CaptureRecord, CaptureStore
from agent.uploaders import DirectS3Uploader, PresignedUploader, Uploader
from agent.version import __version__
from agent.worker import UploadWorker
from battery_manager import BatteryMonitor, BatteryPolicy, read_psutil_battery
from config_updater import ConfigPoller
from contract.errors import AuthError, ConfigError, TransientError, VinovaError
from contract.private_files import write_private_file
from contract.s3 import make_s3_client
from contract.screenshots import JPEG_CONTENT_TYPE, SignedUpload
from screenshot_manager import ScreenshotManager
from time_manager import zone_name

if TYPE_CHECKING:
    from agent.window.controller import VinovaApp

log = logging.getLogger(__name__)  # "__main__" when run as main.py, "main" when imported

EXIT_OK = 0
EXIT_SIGN_IN_FAILED = 2
EXIT_BAD_SETTINGS = 3
EXIT_CANNOT_START = 5
EXIT_ALREADY_RUNNING = 6
EXIT_NO_INPUT = 7
# Flags that are actions of this start, not settings.
ACTION_FLAGS = ("headless", "install_desktop_entry")
LOG_FILE_BYTES = 1_000_000
LOG_FILE_COUNT = 5


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line flags; they win over the environment and ``.env``."""
    parser = argparse.ArgumentParser(prog="vinova", description="Vinova activity tracker agent")
    parser.add_argument("--version", action="version", version=f"vinova {__version__}")
    parser.add_argument("--headless", action="store_true", help="run without a window (terminal sign-in)")
    parser.add_argument("--server-url", dest="server_url", help="the Vinova server (VINOVA_SERVER_URL)")
    parser.add_argument("--agent-dir", dest="agent_dir", help="the agent's data folder (VINOVA_AGENT_DIR)")
    parser.add_argument("--log-level", dest="log_level", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument("--allow-no-input", dest="allow_no_input", action="store_true", default=None,
                        help="run headless even where keyboard and mouse cannot be tracked (no display)")
    parser.add_argument("--install-desktop-entry", action="store_true",
                        help="add Vinova to the desktop's application menu (Linux) and exit")
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
        log_file, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_COUNT, encoding="utf-8",
        errors="backslashreplace",  # text from elsewhere (a lone surrogate) never costs a log line
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


# --------------------------------------------------------------------------- wiring
def start_input_source(idle_clock: IdleClock | None) -> InputSource | None:
    """The platform's input listener, or None (logged) when there is no display to listen to.

    On Wayland without evdev access it is read off ``idle_clock`` (no key and click counts).
    """
    try:
        return choose_input_source(idle_clock)
    except VinovaError as exc:
        log.error("input activity cannot be tracked: %s", exc)
        return None


def check_input_source() -> None:
    """VinovaError when input activity cannot be observed here (asked before signing in)."""
    idle_clock = choose_idle_clock()
    try:
        choose_input_source(idle_clock)
    finally:
        release_idle_clock(idle_clock)


def idle_clock_release(idle_clock: IdleClock | None) -> tuple[Callable[[], None], ...]:
    """What closes the idle clock's connection (X, Wayland or D-Bus) after the engine stops."""
    close = getattr(idle_clock, "close", None)
    return (close,) if callable(close) else ()


def release_idle_clock(idle_clock: IdleClock | None) -> None:
    """Close the idle clock's connection now."""
    for close in idle_clock_release(idle_clock):
        close()


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
        cached = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return ""
    return str(cached.get("upload_prefix", "")) if isinstance(cached, dict) else ""


def build_uploader(settings: AgentSettings, client: ServerClient) -> Uploader:
    """Direct to the agent's own bucket when S3_BUCKET is set, else through URLs the server signs."""
    if settings.s3_bucket:
        log.info("uploads: direct to S3 bucket %s with this machine's AWS credentials", settings.s3_bucket)
        s3_client = make_s3_client(settings.aws_region, settings.s3_endpoint_url)
        return DirectS3Uploader(s3_client, settings.s3_bucket)

    def sign(record: CaptureRecord) -> SignedUpload | None:
        body = {"key": record.key, "content_type": JPEG_CONTENT_TYPE,
                "size_bytes": record.size_bytes, "sha256": record.sha256}
        answer = client.sign_upload(body)  # None: the server already holds this capture
        return None if answer is None else SignedUpload.from_json(answer)

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
    client.device = load_or_create_device(agent_dir, settings.device_name)
    events = EventHub()
    poller = ConfigPoller(client, agent_dir / "config.json")  # the engine listens to it
    config = poller.current
    if poller.from_cache:
        log.info("using the cached config until the server answers")
    idle_clock = choose_idle_clock()
    input_source = start_input_source(idle_clock)
    counted = bool(getattr(input_source, "counts_input", True))
    tracker = ActivityTracker(
        idle_threshold_seconds=config.idle_threshold,
        timezone_name=config.timezone,
        idle_clock=idle_clock,
        counted=counted,  # False on Wayland without evdev: the samples' counts are None
    )
    grabber = GuardedGrabber(choose_monitor_grabber())
    desktop = DesktopNotes(counting_words(input_source, detect_session(os.environ)), grabber)
    log.info("%s", desktop.counting_words)
    if grabber.asks_permission:
        log.info("%s", desktop.screenshots_note())
    battery = BatteryMonitor(reader=read_psutil_battery, policy=BatteryPolicy(config.battery_threshold))
    gate = CaptureGate(tracker, battery)
    prefix = upload_prefix(settings, client)
    # The key folder lets the spool rebuild its queue from the files alone (a lost agent.db).
    capture_store = CaptureStore(agent_dir, key_folder=f"{prefix}{username}/")
    uploads = UploadWorker(
        store=capture_store,
        uploader=build_uploader(settings, client),
        register=lambda record: client.register_screenshot(record.registration().to_json()),
        events=events,
        report_withheld=lambda record: client.report_withheld(record.taken_at),
        upload_delay_seconds=config.upload_delay_seconds,
    )
    captures = ScreenshotManager(
        grab=grabber,
        store=capture_store,
        enqueue=uploads.enqueue,
        username=username,
        prefix=prefix,
        skip_reason=gate.skip_reason,
        timezone_name=lambda: zone_name(poller.current.timezone),
        spool_limit_bytes=settings.spool_max_mb * 1024 * 1024,
        events=events,
    )
    return Agent(
        username=username,
        sender=client,
        tracker=tracker,
        input_source=input_source,
        battery=battery,
        outbox=Outbox(agent_dir),
        poller=poller,
        captures=captures,
        uploads=uploads,
        on_session_expired=on_session_expired,
        release=idle_clock_release(idle_clock),
        gate=gate,
        events=events,
        lock_state=choose_lock_state(idle_clock),
        desktop=desktop,
    )


def run_headless(settings: AgentSettings, prompter: TerminalPrompter) -> int:
    """Sign in on the terminal, run the engine until SIGTERM/SIGINT, then stop cleanly."""
    client = ServerClient(settings.server_url, ca_bundle=settings.ca_bundle)
    log.info("server %s, agent files in %s", settings.server_url, settings.agent_dir)
    if not settings.allow_no_input:
        try:
            check_input_source()
        except VinovaError as exc:
            prompter.say(f"Vinova cannot track keyboard and mouse activity here: {exc}. "
                         "Start it where there is a display, or with --allow-no-input to run without it.")
            return EXIT_NO_INPUT
    try:
        username, _offline = restore_or_sign_in(settings, client, prompter)
    except (AuthError, TransientError) as exc:
        prompter.say(f"Sign-in failed: {exc}")
        return EXIT_SIGN_IN_FAILED
    session_ended = threading.Event()
    try:
        agent = build_agent(settings, client, username, on_session_expired=session_ended.set)
    except VinovaError as exc:  # e.g. an agent.db from a newer Vinova: said plainly, no traceback
        log.error("the agent cannot start: %s", exc)
        return EXIT_CANNOT_START
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
    limit_malloc_arenas()
    if args.install_desktop_entry:
        installed = install_desktop_entry()
        print(f"Vinova added to the application menu: {installed.desktop_file} (icon {installed.icon_file})")
        return EXIT_OK
    try:
        settings = AgentSettings.load(flags={k: v for k, v in vars(args).items() if k not in ACTION_FLAGS})
    except ConfigError as exc:
        print(f"vinova: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    settings.prepare_agent_dir()
    use_window = not args.headless and display_available()
    setup_logging(settings.agent_dir, settings.log_level, console=sys.stdout if sys.stdout else None)
    log.info("vinova %s", __version__)
    instance = InstanceLock(settings.agent_dir)
    try:
        instance.acquire()
    except AlreadyRunning as exc:  # the running one was asked to show its window
        print(exc, file=sys.stderr, flush=True)
        return EXIT_ALREADY_RUNNING
    try:
        return run(settings, use_window, instance, args.headless)
    finally:
        instance.release()


def autostart_command(settings: AgentSettings) -> list[str]:
    """What the log-in entry starts: this program, plus the server and folder in use unless the defaults."""
    command = launch_command()
    if settings.server_url != DEFAULT_SERVER_URL:
        command += ["--server-url", settings.server_url]
    if settings.agent_dir != default_agent_dir():
        command += ["--agent-dir", str(settings.agent_dir)]
    return command


def bring_to_front(app: VinovaApp) -> None:
    """A second start asked for the window (doorbell thread): show it, also when hidden to the tray."""
    log.info("another start asked for the window: showing it")
    app.post(app.keeper.show_window)


def no_window_to_show() -> None:
    """A second start asked for the window of a headless agent (doorbell thread)."""
    log.info("another start asked for the window; this one runs headless")


def run(settings: AgentSettings, use_window: bool, instance: InstanceLock, headless: bool) -> int:
    """The window, or the terminal when asked or when there is no display to open it on."""
    instance.on_show(no_window_to_show)
    if not use_window:
        if not headless:
            log.info("no display: running headless")
        return run_headless(settings, TerminalPrompter())
    from agent.window.launch import EXIT_NO_WINDOW, run_gui
    from agent.window.startup_row import AutostartControl

    def window_opened(app: VinovaApp) -> None:
        choice = AutostartChoice(settings.agent_dir, choose_autostart(), launch_command())
        AutostartControl(app.root, app.main_view.startup_row, choice, lambda: app.agent,
                         command=lambda: autostart_command(app.settings))
        instance.on_show(lambda: bring_to_front(app))

    client = ServerClient(settings.server_url, ca_bundle=settings.ca_bundle)
    exit_code = run_gui(settings, client, build_agent, on_open=window_opened)
    if exit_code == EXIT_NO_WINDOW:  # e.g. Wayland without XWayland: Tk cannot open a window
        log.info("no window could be opened: running headless")
        instance.on_show(no_window_to_show)
        return run_headless(settings, TerminalPrompter())
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
