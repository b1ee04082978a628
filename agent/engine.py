"""The agent's engine: settings, the one scheduler thread and its jobs, pause/resume, clean stop.

Both faces of the agent run this same engine: ``main.py --headless`` (terminal) and the Tk window.

Threads (STYLE §3):
    scheduler thread  — one ``schedule.Scheduler``: activity flush/send (5 s), battery poll (30 s),
                        config poll (``config_poll_interval``), and the capture job when installed
    input listeners   — pynput's own threads; they only bump counters in the tracker
    upload worker     — fed by a queue.Queue (screenshot_manager/upload_queue)
Every wait is ``stop_event.wait(...)``, so ``stop()`` returns within about a second.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import schedule
from dotenv import dotenv_values

from activity_tracker import ActivityTracker, InputSource
from agent.outbox import Outbox
from battery_manager import BatteryMonitor, BatteryReading
from config_updater import ConfigPoller
from contract.config_schema import AgentConfig
from contract.errors import ConfigError, PermanentError, SessionExpired, TransientError

log = logging.getLogger(__name__)

DEFAULT_SERVER_URL = "http://127.0.0.1:5000"
ACTIVITY_FLUSH_SECONDS = 5
BATTERY_POLL_SECONDS = 30
ACTIVITY_BATCH_SIZE = 500
BACKOFF_INITIAL_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0


def default_agent_dir() -> Path:
    """The user's data directory for Vinova on this platform."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "Vinova"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Vinova"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vinova"


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """Where the agent talks to and keeps its files; policy (intervals, blur…) comes from the server."""

    server_url: str = DEFAULT_SERVER_URL
    agent_dir: Path = field(default_factory=default_agent_dir)
    s3_bucket: str | None = None
    s3_prefix: str = ""
    aws_region: str | None = None
    s3_endpoint_url: str | None = None
    spool_max_mb: int = 2048
    log_level: str = "INFO"

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        flags: Mapping[str, Any] | None = None,
        dotenv_paths: tuple[Path, ...] | None = None,
    ) -> AgentSettings:
        """Defaults < ``.env`` < environment < command-line flags; a bad value raises ConfigError."""
        merged: dict[str, str] = {}
        project_env = Path(__file__).resolve().parents[1] / ".env"
        paths = dotenv_paths if dotenv_paths is not None else (project_env, Path(".env"))
        for path in paths:
            if path.is_file():
                merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
        merged.update(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        names = {
            "VINOVA_SERVER_URL": "server_url",
            "VINOVA_AGENT_DIR": "agent_dir",
            "S3_BUCKET": "s3_bucket",
            "S3_PREFIX": "s3_prefix",
            "AWS_REGION": "aws_region",
            "S3_ENDPOINT_URL": "s3_endpoint_url",
            "VINOVA_SPOOL_MAX_MB": "spool_max_mb",
            "VINOVA_LOG_LEVEL": "log_level",
        }
        for variable, attribute in names.items():
            if merged.get(variable):
                values[attribute] = merged[variable]
        for attribute, value in (flags or {}).items():
            if value is not None and attribute in cls.__slots__:
                values[attribute] = value
        errors: dict[str, str] = {}
        if "agent_dir" in values:
            values["agent_dir"] = Path(values["agent_dir"]).expanduser()
        if "spool_max_mb" in values:
            try:
                values["spool_max_mb"] = int(values["spool_max_mb"])
                if values["spool_max_mb"] < 1:
                    raise ValueError
            except ValueError:
                errors["VINOVA_SPOOL_MAX_MB"] = "must be a whole number of megabytes ≥ 1"
        server_url = str(values.get("server_url", DEFAULT_SERVER_URL))
        if not server_url.startswith(("http://", "https://")):
            errors["VINOVA_SERVER_URL"] = "must start with http:// or https://"
        level = str(values.get("log_level", "INFO")).upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            errors["VINOVA_LOG_LEVEL"] = "must be DEBUG, INFO, WARNING or ERROR"
        values["log_level"] = level
        if errors:
            raise ConfigError(errors)
        return cls(**values)

    def prepare_agent_dir(self) -> Path:
        """Create the agent data dir (0700) and return it."""
        self.agent_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.agent_dir.chmod(0o700)
        return self.agent_dir


class CaptureJobs(Protocol):
    """What the engine needs of the screenshot manager (screenshot_manager.ScreenshotManager)."""

    def apply_config(self, config: AgentConfig) -> None: ...

    def install(self, scheduler: schedule.Scheduler) -> None: ...


class UploadJobs(Protocol):
    """What the engine needs of the upload worker (upload_queue.UploadWorker)."""

    def start(self) -> None: ...

    def stop(self, timeout: float = 2.0) -> None: ...

    def resume(self) -> None: ...

    def status(self) -> Any: ...


class ActivitySender(Protocol):
    """Sends samples to ``POST /activity`` (server_client.ServerClient); may block up to its timeout."""

    def post_activity(self, samples: list[dict[str, Any]], agent: dict[str, int] | None = None) -> int: ...


@dataclass
class Backoff:
    """Exponential backoff with full jitter, on the monotonic clock."""

    initial_seconds: float = BACKOFF_INITIAL_SECONDS
    max_seconds: float = BACKOFF_MAX_SECONDS
    failures: int = 0
    next_attempt_at: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    def ready(self, now: float) -> bool:
        """Whether the next attempt may go now."""
        return now >= self.next_attempt_at

    def failed(self, now: float, at_least_seconds: float | None = None) -> float:
        """Record a failure; returns the delay before the next attempt."""
        self.failures += 1
        ceiling = min(self.max_seconds, self.initial_seconds * 2 ** (self.failures - 1))
        delay = max(self.rng.uniform(ceiling / 2, ceiling), at_least_seconds or 0.0)
        self.next_attempt_at = now + delay
        return delay

    def succeeded(self) -> None:
        """Reset after a success."""
        self.failures = 0
        self.next_attempt_at = 0.0


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """A snapshot for the terminal and the window."""

    state: str
    offline: bool
    samples_waiting: int
    config: AgentConfig
    config_changed_at: Any
    battery: BatteryReading | None
    session_expired: bool


class Agent:
    """Runs the agent's periodic jobs on one scheduler thread and owns start/stop/pause."""

    def __init__(
        self,
        *,
        username: str,
        sender: ActivitySender,
        tracker: ActivityTracker,
        input_source: InputSource | None,
        battery: BatteryMonitor,
        outbox: Outbox,
        poller: ConfigPoller,
        captures: CaptureJobs | None = None,
        uploads: UploadJobs | None = None,
        on_session_expired: Callable[[], None] | None = None,
        release: tuple[Callable[[], None], ...] = (),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.username = username
        self._sender = sender
        self.tracker = tracker
        self._input_source = input_source
        self.battery = battery
        self.outbox = outbox
        self.poller = poller
        self.captures = captures
        self.uploads = uploads
        self._on_session_expired = on_session_expired
        self._release = release  # e.g. the idle clock's X connection, closed after stop
        self._monotonic = monotonic
        self.scheduler = schedule.Scheduler()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._config_job: schedule.Job | None = None
        self._send_backoff = Backoff()
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False
        self.offline = False
        self.session_expired = False
        self.paused = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Apply the config in force, start the listeners, the upload worker and the scheduler thread."""
        with self._lock:
            if self._started:
                return
            self._started = True
        self._apply_config(self.poller.current)
        if self._input_source is not None:
            self._input_source.start(self.tracker)
        if self.uploads is not None:
            self.uploads.start()
        every = self.scheduler.every
        every(ACTIVITY_FLUSH_SECONDS).seconds.do(self._guarded, "activity", self.flush_activity)
        every(BATTERY_POLL_SECONDS).seconds.do(self._guarded, "battery", self.poll_battery)
        self._schedule_config_poll(self.poller.current.config_poll_interval)
        if self.captures is not None:
            self.captures.install(self.scheduler)
        self._guarded("battery", self.poll_battery)
        self._thread = threading.Thread(target=self._run_scheduler, name="vinova-scheduler", daemon=True)
        self._thread.start()
        log.info("agent started for %s", self.username)

    def stop(self, timeout_seconds: float = 2.0) -> None:
        """Stop every thread (idempotent); completed minutes are saved to the outbox first."""
        with self._lock:
            if self._stopped or not self._started:
                self._stopped = True
                return
            self._stopped = True
        deadline = time.monotonic() + timeout_seconds
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join(max(0.1, deadline - time.monotonic()))
        if self._input_source is not None:
            self._input_source.stop()
        if self.uploads is not None:
            self.uploads.stop(max(0.1, deadline - time.monotonic()))
        try:
            self.outbox.add(self.username, self.tracker.collect())
        except Exception:  # job boundary: stopping must finish even if the disk fails
            log.exception("could not save the last activity samples")
        for release in self._release:
            try:
                release()
            except Exception:  # job boundary: one resource failing to close must not stop the rest
                log.exception("could not release a resource while stopping")
        log.info("agent stopped")

    def wait(self, timeout_seconds: float | None = None) -> bool:
        """Block until stop() was called; True when stopped."""
        return self._stop_event.wait(timeout_seconds)

    def _run_scheduler(self) -> None:
        while not self._stop_event.is_set():
            self.scheduler.run_pending()
            idle = self.scheduler.idle_seconds
            self._stop_event.wait(1.0 if idle is None else min(1.0, max(0.05, idle)))

    def _guarded(self, name: str, job: Callable[[], Any]) -> None:
        """The job boundary: one failing job logs and never kills the scheduler thread."""
        try:
            job()
        except SessionExpired:
            self._handle_session_expired()
        except (TransientError, PermanentError) as exc:
            log.warning("the %s job failed: %s", name, exc)
        except Exception:
            log.exception("the %s job failed", name)

    # ------------------------------------------------------------------ jobs
    def flush_activity(self) -> None:
        """Move completed minutes into the outbox, then send what waits (with backoff when offline)."""
        self.outbox.add(self.username, self.tracker.collect())
        if self.session_expired:
            return
        now = self._monotonic()
        if not self._send_backoff.ready(now):
            return
        while not self._stop_event.is_set():
            batch = self.outbox.pending(self.username, ACTIVITY_BATCH_SIZE)
            if not batch:
                break
            try:
                self._sender.post_activity(batch, self._upload_backlog())
            except TransientError as exc:
                delay = self._send_backoff.failed(self._monotonic(), exc.retry_after_seconds)
                if not self.offline:
                    log.warning("offline: %s; %d minutes wait, retrying in %.0f s", exc, len(batch), delay)
                self.offline = True
                return
            except PermanentError as exc:
                # Kept, never dropped: retried at the slowest pace and reported each time.
                self._send_backoff.failures = 99
                delay = self._send_backoff.failed(self._monotonic())
                log.error("the server refused %d activity minutes (kept, retry in %.0f s): %s",
                          len(batch), delay, exc)
                return
            self.outbox.remove(self.username, [sample["minute_start"] for sample in batch])
            self._send_backoff.succeeded()
            if self.offline:
                log.info("back online: activity delivered")
            self.offline = False
            log.debug("sent %d activity minutes", len(batch))
            if len(batch) < ACTIVITY_BATCH_SIZE:
                break

    def _upload_backlog(self) -> dict[str, int] | None:
        """What the admin's Team page shows of this agent's uploads (None without an upload worker)."""
        if self.uploads is None:
            return None
        status = self.uploads.status()
        return {"uploads_waiting": int(status.waiting), "kept_aside": int(status.kept_aside)}

    def poll_battery(self) -> None:
        """Read the battery and suspend/resume tracking per the policy."""
        suspended = self.battery.poll()
        self.tracker.set_suspended(suspended)

    def poll_config(self) -> None:
        """Ask the server for the config; changes are applied by the poller's callback."""
        self.poller.poll()

    # ------------------------------------------------------------------ config
    def on_config_change(self, config: AgentConfig, changes: Mapping[str, Any]) -> None:
        """Callback for ConfigPoller: apply a new config to the running jobs at once."""
        self._apply_config(config)
        if "config_poll_interval" in changes and self._started:
            self._schedule_config_poll(config.config_poll_interval)

    def _apply_config(self, config: AgentConfig) -> None:
        self.tracker.set_idle_threshold(config.idle_threshold)
        self.tracker.set_timezone(config.timezone)
        self.tracker.set_suspended(self.battery.set_threshold(config.battery_threshold))
        if self.captures is not None:
            self.captures.apply_config(config)

    def _schedule_config_poll(self, interval_seconds: int) -> None:
        if self._config_job is not None:
            self.scheduler.cancel_job(self._config_job)
        self._config_job = self.scheduler.every(interval_seconds).seconds.do(
            self._guarded, "config", self.poll_config
        )

    # ------------------------------------------------------------------ user actions
    def pause(self) -> None:
        """Stop counting activity and capturing until resume()."""
        if not self.paused:
            self.paused = True
            self.tracker.set_paused(True)
            log.info("tracking paused by the user")

    def resume(self) -> None:
        """Undo pause()."""
        if self.paused:
            self.paused = False
            self.tracker.set_paused(False)
            log.info("tracking resumed by the user")

    def capture_skip_reason(self) -> str | None:
        """Why a capture must not happen now (None = go ahead); called by the capture job."""
        if self.session_expired:
            return "signed out"
        if self.paused:
            return "tracking is paused"
        if self.battery.suspended:
            return "battery low: tracking suspended"
        if self.tracker.state == "idle":
            return "the user is idle"
        return None

    # ------------------------------------------------------------------ session
    def _handle_session_expired(self) -> None:
        if self.session_expired:
            return
        self.session_expired = True
        log.warning("the server ended this session: capturing stopped until you sign in again")
        if self._on_session_expired is not None:
            self._on_session_expired()

    def session_renewed(self) -> None:
        """After a new sign-in: capture and send again."""
        self.session_expired = False
        self._send_backoff.succeeded()
        if self.uploads is not None:
            self.uploads.resume()
        log.info("signed in again: tracking continues")

    def status(self) -> AgentStatus:
        """A snapshot of what the agent is doing."""
        return AgentStatus(
            state=self.tracker.state,
            offline=self.offline or self.poller.unreachable,
            samples_waiting=self.outbox.count(self.username),
            config=self.poller.current,
            config_changed_at=self.poller.last_changed_at,
            battery=self.battery.policy.last_reading,
            session_expired=self.session_expired,
        )
