"""The employee's side of the window (issue 12): the policy line, the held-back list, the capture
notice, the question after idle, and deleting a capture.

The controller hands it the engine's events (Captured, Returned) on the Tk thread and calls
:meth:`EmployeeSide.refresh` once a second. Deleting runs the network part on a worker thread: a
capture still on this computer is withheld (never uploaded, only the fact is reported); an
uploaded one is deleted on the server by its id (``DELETE /api/me/screenshots/<id>``), which
refuses once the organisation's delete window has passed.
"""

from __future__ import annotations

import logging
import threading
import time
import tkinter as tk
from collections.abc import Callable
from tkinter import ttk
from typing import Any, Protocol

import time_manager
from agent.client import ServerClient
from agent.engine import Agent
from agent.events import Captured, Returned
from agent.spool import UPLOADED, WITHHELD, WITHHELD_REPORTED
from agent.window.held_back import HeldBackList
from agent.window.idle_prompt import IdlePrompt
from agent.window.look import Look, set_if_changed
from agent.window.main_view import TimeText, preview_from_jpeg
from agent.window.notice import CaptureNotice
from agent.window.policy_words import away_text, policy_text
from agent.worker import UploadWorker
from contract.config_schema import AgentConfig
from contract.errors import PermanentError, VinovaError

log = logging.getLogger(__name__)

# How long a Delete waits for an upload in flight to finish before deleting it on the server.
IN_FLIGHT_WAIT_SECONDS = 15.0
NOTICE_THUMBNAIL_PT = (160, 90)


class Background(Protocol):
    """The controller's ``run_in_background``: work on a thread, its outcome back on the Tk thread."""

    def __call__(self, name: str, work: Callable[[], Any], done: Callable[[Any], None],
                 failed: Callable[[Exception], None]) -> Any: ...


def may_delete(config: AgentConfig) -> bool:
    """Whether a fresh capture can be deleted at all: held back on the device, or a delete window."""
    return config.upload_delay_seconds > 0 or config.employee_delete_window_minutes > 0


class EmployeeSide:
    """Owns the notice, the idle question and the held-back list; Tk thread only."""

    def __init__(self, root: tk.Misc, look: Look, area: ttk.Frame, *, time_text: TimeText,
                 client: Callable[[], ServerClient], run_in_background: Background) -> None:
        self.look = look
        self.time_text = time_text
        self.client = client
        self.run_in_background = run_in_background
        self.policy = tk.StringVar(value="")
        ttk.Label(area, textvariable=self.policy, style="Muted.TLabel", wraplength=look.px(640),
                  justify="left").grid(row=0, column=0, sticky="w")
        self.held_back = HeldBackList(area, look, time_text=time_text, on_delete=self._delete_one)
        self.held_back.grid(row=1, column=0, sticky="ew", pady=(look.px(6), 0))
        self.held_back.grid_remove()
        area.columnconfigure(0, weight=1)
        self.notice = CaptureNotice(root, look, on_delete=self._delete_many)
        self.prompt = IdlePrompt(root, look)
        self.agent: Agent | None = None

    def refresh(self, agent: Agent) -> None:
        """Once a second: the policy in force and the captures waiting before upload."""
        self.agent = agent
        set_if_changed(self.policy, policy_text(agent.poller.current))
        worker = _worker(agent)
        if worker is not None:
            self.held_back.show(worker.held_back(), time_manager.utc_now())

    def captured(self, agent: Agent, event: Captured) -> None:
        """A capture was taken: the notice (when the organisation wants one)."""
        self.agent = agent
        config = agent.poller.current
        if not config.notify_on_capture:
            return
        try:
            size_px = (self.look.px(NOTICE_THUMBNAIL_PT[0]), self.look.px(NOTICE_THUMBNAIL_PT[1]))
            preview = preview_from_jpeg(event.record, event.jpeg, size_px)
        except (OSError, ValueError) as exc:
            log.debug("no notice thumbnail: %s", exc)
            return
        self.notice.show(event.record.capture_id, preview, self.time_text(event.record.taken_at),
                         may_delete(config))

    def returned(self, agent: Agent, event: Returned) -> None:
        """Back after idle: ask once whether it was work (the headless agent never asks)."""
        self.agent = agent
        config = agent.poller.current
        if not config.idle_prompt:
            return
        question = away_text(event.began_at, event.ended_at, config.timezone)

        def keep(began_at: Any, ended_at: Any) -> None:
            if self.agent is agent:
                agent.keep_idle(began_at, ended_at)
                log.info("the time away counts as work")

        self.prompt.ask(question, event.began_at, event.ended_at, keep)

    def close(self) -> None:
        """Take the notice and the question away (sign-out, close)."""
        self.notice.close()
        self.prompt.close()
        self.agent = None

    # ------------------------------------------------------------------ deleting
    def _delete_many(self, capture_ids: tuple[int, ...]) -> None:
        for capture_id in capture_ids:
            self._delete_one(capture_id)

    def _delete_one(self, capture_id: int) -> None:
        agent = self.agent
        worker = _worker(agent) if agent is not None else None
        if agent is None or worker is None:
            return
        if worker.withhold(capture_id) is not None:
            log.info("screenshot deleted on this computer: it is not uploaded")
            self.refresh(agent)
            return
        client = self.client()
        self.run_in_background(
            "vinova-delete", lambda: delete_uploaded(worker, client, capture_id),
            lambda outcome: log.info("%s", outcome), _say_delete_failed,
        )


def delete_uploaded(worker: UploadWorker, client: ServerClient, capture_id: int,
                    wait_seconds: float = IN_FLIGHT_WAIT_SECONDS) -> str:
    """Delete a capture that is (being) uploaded: on the server by its id; what happened, in words.

    Runs on a worker thread; raises VinovaError when the server refuses or cannot be reached.
    """
    deadline = time.monotonic() + wait_seconds
    pause = threading.Event()
    while True:
        record = worker.store.get(capture_id)
        if record is None:
            return "that screenshot is no longer on this computer"
        if record.status in (WITHHELD, WITHHELD_REPORTED):
            return "screenshot deleted on this computer: it is not uploaded"
        if record.status == UPLOADED:
            break
        if worker.withhold(capture_id) is not None:
            return "screenshot deleted on this computer: it is not uploaded"
        if time.monotonic() > deadline:
            raise PermanentError("the screenshot is still being uploaded; try again in a moment")
        pause.wait(0.1)  # the upload in flight ends within its timeout
    if record.server_id is None:
        raise PermanentError("the server did not give this screenshot an id, so it cannot be deleted here")
    client.delete_my_screenshot(record.server_id)
    return "screenshot deleted from the server"


def _say_delete_failed(error: Exception) -> None:
    if "delete_not_allowed" in str(error):
        log.warning("the screenshot can no longer be deleted: the time to delete it has passed")
    elif isinstance(error, VinovaError):
        log.warning("the screenshot could not be deleted: %s", error)
    else:
        log.error("the screenshot could not be deleted: %s", error)


def _worker(agent: Agent) -> UploadWorker | None:
    uploads = agent.uploads
    return uploads if isinstance(uploads, UploadWorker) else None
