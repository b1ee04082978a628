"""The agent's engine: the one scheduler thread and its jobs, pause/resume, events, clean stop.

Both faces of the agent run this same engine: ``main.py --headless`` (terminal) and the Tk window.

Threads (STYLE §3):
    scheduler thread  — one ``schedule.Scheduler``: activity flush/send (5 s), battery poll (30 s),
                        config poll (``config_poll_interval``), screen-lock poll (2 s), input
                        listener watchdog (10 s), and the capture job when installed; before each
                        round it checks the clocks for a sleep (agent.adapters.wake)
    input listeners   — pynput's own threads; they only bump counters in the tracker
    upload worker     — fed by a queue.Queue (agent.worker.UploadWorker)
Every wait is ``stop_event.wait(...)``, so ``stop()`` returns within about a second.
Events (:mod:`agent.events`) go out on :attr:`Agent.events`: Captured (screenshot manager),
Uploaded (upload worker) and ConfigApplied (here).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import schedule

from activity_tracker import ActivityTracker
from agent.adapters.wake import ClockWatch, span_text
from agent.delivery import ActivityDelivery, ActivitySender
from agent.desktop_notes import DesktopNotes
from agent.events import ConfigApplied, EventHub, Returned
from agent.gate import CaptureGate
from agent.outbox import Outbox
from agent.reachability import TICK_SECONDS, ReachabilityProbe
from agent.seams import InputSource, LockState
from agent.watchdog import InputWatchdog, LockWatch
from battery_manager import BatteryMonitor, BatteryReading
from config_updater import ConfigPoller
from contract.config_schema import AgentConfig
from contract.errors import PermanentError, SessionExpired, TransientError
from time_manager import utc_from_timestamp

log = logging.getLogger(__name__)

ACTIVITY_FLUSH_SECONDS = 5
BATTERY_POLL_SECONDS = 30
# Captures share the scheduler thread, so at most this long passes between a lock and the first skip.
LOCK_POLL_SECONDS = 2
INPUT_WATCHDOG_SECONDS = 10


class CaptureJobs(Protocol):
    """What the engine needs of the screenshot manager (screenshot_manager.ScreenshotManager)."""

    def apply_config(self, config: AgentConfig) -> None: ...

    def install(self, scheduler: schedule.Scheduler) -> None: ...


class UploadJobs(Protocol):
    """What the engine needs of the upload worker (agent.worker.UploadWorker)."""

    def start(self) -> None: ...

    def stop(self, timeout: float = 2.0) -> None: ...

    def resume(self) -> None: ...

    def status(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """A snapshot for the terminal and the window."""

    state: str
    offline: bool
    samples_waiting: int
    config: AgentConfig
    config_changed_at: datetime | None
    battery: BatteryReading | None
    session_expired: bool
    input_ok: bool = True  # the input listeners are alive
    input_restarts: int = 0  # dead listeners restarted by the watchdog since start
    screen_locked: bool = False
    counting_mode: str = ""  # how keys and clicks are counted here, in plain words (issue 15)
    screenshots_note: str = ""  # "Screenshots blocked by the desktop", the permission prompt ahead, or ""


class Agent:
    """Runs the agent's periodic jobs on one scheduler thread and owns start/stop/pause.

    ``gate`` holds the pause and session switches the capture job consults (made from the tracker
    and the battery when not given); ``events`` is the hub every part publishes on.
    """

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
        gate: CaptureGate | None = None,
        events: EventHub | None = None,
        lock_state: LockState | None = None,
        wall_clock: Callable[[], float] = time.time,
        health_check: Callable[[], None] | None = None,
        desktop: DesktopNotes | None = None,
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
        self._desktop = desktop
        self._release = release  # e.g. the idle clock's X connection, closed after stop
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self.clock_watch = ClockWatch(wall_clock=wall_clock, monotonic=monotonic)
        self.input_watchdog = InputWatchdog(input_source, tracker, wall_clock=wall_clock)
        self._lock_watch = LockWatch(lock_state, tracker)
        self.scheduler = schedule.Scheduler()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._config_job: schedule.Job | None = None
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False
        self.delivery = ActivityDelivery(
            username=username, sender=sender, outbox=outbox, stop_event=self._stop_event, monotonic=monotonic
        )
        self.gate = gate if gate is not None else CaptureGate(tracker, battery)
        self.events = events if events is not None else EventHub()
        # While offline, GET /health on a short back-off finds the server's return (issue 13).
        check = health_check if health_check is not None else getattr(sender, "check_health", None)
        self.reachability = None if check is None else ReachabilityProbe(
            check=check, is_offline=lambda: self.delivery.offline or self.poller.unreachable,
            on_back=self._server_back, monotonic=monotonic)
        self._kept_absences: list[tuple[float, float]] = []  # answers "count it as work", not yet applied
        poller.listen(self.on_config_change)

    @property
    def offline(self) -> bool:
        """True while activity could not be delivered (until the next successful send)."""
        return self.delivery.offline

    @property
    def paused(self) -> bool:
        """True between pause() and resume()."""
        return self.gate.paused

    @property
    def session_expired(self) -> bool:
        """True after the server refused our token, until session_renewed()."""
        return self.gate.session_expired

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Apply the config in force, start the listeners, the upload worker and the scheduler thread."""
        with self._lock:
            if self._started:
                return
            self._started = True
        self._apply_config(self.poller.current, {})
        if self._input_source is not None:
            self._input_source.start(self.tracker)
        if self.uploads is not None:
            self.uploads.start()
        every = self.scheduler.every
        every(ACTIVITY_FLUSH_SECONDS).seconds.do(self.run_job, "activity", self.flush_activity)
        every(BATTERY_POLL_SECONDS).seconds.do(self.run_job, "battery", self.poll_battery)
        every(LOCK_POLL_SECONDS).seconds.do(self.run_job, "screen lock", self.poll_screen_lock)
        every(INPUT_WATCHDOG_SECONDS).seconds.do(self.run_job, "input watchdog", self.input_watchdog.check)
        self._schedule_config_poll(self.poller.current.config_poll_interval)
        if self.reachability is not None:
            every(TICK_SECONDS).seconds.do(self.run_job, "reachability", self.reachability.tick)
        if self.captures is not None:
            self.captures.install(self.scheduler)
        self.run_job("battery", self.poll_battery)
        self.run_job("screen lock", self.poll_screen_lock)
        self.clock_watch = ClockWatch(wall_clock=self._wall_clock, monotonic=self._monotonic)
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
            self.delivery.save(self.tracker.collect())
            self._apply_kept_absences()
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
            self.run_job("wake", self.check_awake)
            self.scheduler.run_pending()
            idle = self.scheduler.idle_seconds
            wait_seconds = 1.0 if idle is None else min(1.0, max(0.05, idle))
            self.clock_watch.waiting(wait_seconds)
            self._stop_event.wait(wait_seconds)

    def check_awake(self) -> None:
        """Before each scheduler round: after a sleep its minutes become no data; new input listeners."""
        gap = self.clock_watch.check()
        if gap is None:
            return
        log.info("resumed after %s asleep", span_text(gap.seconds))
        self.tracker.note_asleep(gap.began_at, gap.ended_at)
        self.input_watchdog.after_wake()

    def run_job(self, name: str, job: Callable[[], Any]) -> None:
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
        self.delivery.save(self.tracker.collect())
        self._apply_kept_absences()
        for began, ended in self.tracker.take_returns():
            self.events.publish(Returned(utc_from_timestamp(began), utc_from_timestamp(ended)))
        if not self.session_expired:
            self.delivery.send(self._agent_report())

    def keep_idle(self, began_at: datetime, ended_at: datetime) -> None:
        """The person counted an absence as work: its idle minutes become ``idle_kept`` (any thread).

        Applied at the next activity flush on the scheduler thread; minutes already sent are sent
        again with the new state (the server replaces a resent minute of this device).
        """
        with self._lock:
            self._kept_absences.append((began_at.timestamp(), ended_at.timestamp()))

    def _apply_kept_absences(self) -> None:
        with self._lock:
            absences, self._kept_absences = self._kept_absences, []
        for began, ended in absences:
            self.delivery.save(self.tracker.keep_idle(began, ended))

    def _server_back(self) -> None:
        """The health probe got an answer: send the waiting minutes, poll the config, wake the uploads."""
        self.delivery.retry_now()
        self.flush_activity()
        if self.delivery.waiting() == 0:
            self.delivery.offline = False  # nothing waited to prove it: the server answering is enough
        if self.poller.unreachable:
            self.poll_config()
        if self.uploads is not None and not self.session_expired:
            self.uploads.resume()  # their back-off is reset, so what waits goes now

    def _agent_report(self) -> dict[str, int]:
        """The ``agent`` object of ``POST /activity``: what the admin's Team page shows of this agent.

        Upload counts only with an upload worker; ``input_ok`` is a bool (a subtype of int).
        """
        report: dict[str, int] = {
            "input_ok": self.input_watchdog.ok,
            "input_restarts": self.input_watchdog.restarts,
        }
        if self.uploads is not None:
            status = self.uploads.status()
            report.update(uploads_waiting=int(status.waiting), kept_aside=int(status.kept_aside))
        return report

    def poll_battery(self) -> None:
        """Read the battery and suspend/resume tracking per the policy."""
        suspended = self.battery.poll()
        self.tracker.set_suspended(suspended)

    def poll_screen_lock(self) -> None:
        """Read the screen lock: while locked no captures and the minutes are idle."""
        self._lock_watch.poll()

    def poll_config(self) -> None:
        """Ask the server for the config; changes are applied by the poller's callback."""
        self.poller.poll()

    # ------------------------------------------------------------------ config
    def on_config_change(self, config: AgentConfig, changes: Mapping[str, Any]) -> None:
        """ConfigPoller's listener: apply a new config to the running jobs at once."""
        self._apply_config(config, changes)
        if "config_poll_interval" in changes and self._started:
            self._schedule_config_poll(config.config_poll_interval)

    def _apply_config(self, config: AgentConfig, changes: Mapping[str, Any]) -> None:
        self.tracker.set_idle_threshold(config.idle_threshold)
        self.tracker.set_timezone(config.timezone)
        self.tracker.set_suspended(self.battery.set_threshold(config.battery_threshold))
        if self.captures is not None:
            self.captures.apply_config(config)
        self.events.publish(ConfigApplied(config, dict(changes)))

    def _schedule_config_poll(self, interval_seconds: int) -> None:
        if self._config_job is not None:
            self.scheduler.cancel_job(self._config_job)
        self._config_job = self.scheduler.every(interval_seconds).seconds.do(
            self.run_job, "config", self.poll_config
        )

    # ------------------------------------------------------------------ user actions
    def pause(self) -> None:
        """Stop counting activity and capturing until resume()."""
        if not self.gate.paused:
            self.gate.paused = True
            self.tracker.set_paused(True)
            log.info("tracking paused by the user")

    def resume(self) -> None:
        """Undo pause()."""
        if self.gate.paused:
            self.gate.paused = False
            self.tracker.set_paused(False)
            log.info("tracking resumed by the user")

    # ------------------------------------------------------------------ session
    def _handle_session_expired(self) -> None:
        if self.gate.session_expired:
            return
        self.gate.session_expired = True
        log.warning("the server ended this session: capturing stopped until you sign in again")
        if self._on_session_expired is not None:
            self._on_session_expired()

    def session_renewed(self) -> None:
        """After a new sign-in: capture and send again."""
        self.gate.session_expired = False
        self.delivery.retry_now()
        if self.uploads is not None:
            self.uploads.resume()
        log.info("signed in again: tracking continues")

    def status(self) -> AgentStatus:
        """A snapshot of what the agent is doing."""
        return AgentStatus(
            state=self.tracker.state,
            offline=self.delivery.offline or self.poller.unreachable,
            samples_waiting=self.outbox.count(self.username),
            config=self.poller.current,
            config_changed_at=self.poller.last_changed_at,
            battery=self.battery.policy.last_reading,
            session_expired=self.session_expired,
            input_ok=self.input_watchdog.ok,
            input_restarts=self.input_watchdog.restarts,
            screen_locked=self.tracker.screen_locked,
            counting_mode=self._desktop.counting_words if self._desktop else "",
            screenshots_note=self._desktop.screenshots_note() if self._desktop else "",
        )
