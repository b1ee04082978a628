"""The log pane: which kind each line is shown as, the queueing handler, and the capped, following pane."""

from __future__ import annotations

import logging
import threading
import tkinter as tk
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from agent.window.log_pane import (
    KIND_ACTIVITY,
    KIND_AGENT,
    KIND_BATTERY,
    KIND_CAPTURE,
    KIND_CONFIG,
    KIND_ERROR,
    KIND_SESSION,
    KIND_UPLOAD,
    KIND_WARNING,
    LogLine,
    LogPane,
    QueueLogHandler,
    kind_of,
)

Logged = tuple[logging.Logger, QueueLogHandler]


def record(name: str, level: int = logging.INFO, message: str = "message", **extra: Any) -> logging.LogRecord:
    item = logging.LogRecord(name, level, __file__, 1, message, None, None)
    item.__dict__.update(extra)
    return item


# --------------------------------------------------------------------------- kinds (no display)
@pytest.mark.parametrize(("logger_name", "kind"), [
    ("activity_tracker", KIND_ACTIVITY),
    ("screenshot_manager", KIND_CAPTURE),
    ("agent.adapters.screen", KIND_CAPTURE),
    ("agent.spool", KIND_UPLOAD),
    ("agent.worker", KIND_UPLOAD),
    ("agent.uploaders", KIND_UPLOAD),
    ("agent.outbox", KIND_UPLOAD),
    ("config_updater", KIND_CONFIG),
    ("battery_manager", KIND_BATTERY),
    ("agent.client", KIND_SESSION),
    ("agent.session", KIND_SESSION),
    ("agent.window.controller", KIND_SESSION),
    ("agent.window.sign_in", KIND_SESSION),
    ("__main__", KIND_SESSION),
    ("main", KIND_SESSION),
    ("agent.engine", KIND_AGENT),
    ("agent.events", KIND_AGENT),
    ("agent.adapters.inputs", KIND_AGENT),
])
def test_each_module_logs_as_its_kind(logger_name: str, kind: str) -> None:
    assert kind_of(record(logger_name)) == kind


def test_the_longest_dotted_prefix_wins_and_only_whole_parts_match() -> None:
    assert kind_of(record("agent.worker.retry")) == KIND_UPLOAD  # a child of agent.worker
    assert kind_of(record("screenshot_manager.test")) == KIND_CAPTURE
    assert kind_of(record("agent.workers")) == KIND_AGENT  # not agent.worker: falls back to agent
    assert kind_of(record("mainframe")) == KIND_AGENT  # not main
    assert kind_of(record("contract.errors")) == KIND_AGENT  # nothing listed: the agent kind
    assert kind_of(record("")) == KIND_AGENT


@pytest.mark.parametrize(("level", "kind"), [
    (logging.DEBUG, KIND_CAPTURE),
    (logging.INFO, KIND_CAPTURE),
    (logging.WARNING, KIND_WARNING),
    (logging.ERROR, KIND_ERROR),
    (logging.CRITICAL, KIND_ERROR),
])
def test_warnings_and_errors_are_shown_as_such_whatever_the_module(level: int, kind: str) -> None:
    assert kind_of(record("screenshot_manager", level)) == kind


def test_an_explicit_kind_beats_the_module_but_not_the_level() -> None:
    assert kind_of(record("agent.window.presenter", vinova_kind=KIND_ACTIVITY)) == KIND_ACTIVITY
    assert kind_of(record("agent.window.presenter", vinova_kind=KIND_UPLOAD)) == KIND_UPLOAD
    warning = record("agent.window.presenter", logging.WARNING, vinova_kind=KIND_ACTIVITY)
    assert kind_of(warning) == KIND_WARNING
    assert kind_of(record("agent.worker", vinova_kind="no such kind")) == KIND_UPLOAD
    assert kind_of(record("agent.worker", vinova_kind=3)) == KIND_UPLOAD


def test_log_kinds_follow_level_then_module() -> None:
    assert kind_of(record("screenshot_manager", logging.INFO)) == KIND_CAPTURE
    assert kind_of(record("screenshot_manager", logging.WARNING)) == KIND_WARNING
    assert kind_of(record("agent.worker", logging.ERROR)) == KIND_ERROR
    assert kind_of(record("agent.window.controller", logging.INFO, vinova_kind="activity")) == "activity"


# --------------------------------------------------------------------------- the handler (no display)
@pytest.fixture
def logged() -> Iterator[Logged]:
    handler = QueueLogHandler(maxsize=3)
    logger = logging.getLogger("agent.worker.test_log_pane")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, handler
    logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def test_the_handler_queues_lines_from_any_thread(logged: Logged) -> None:
    logger, handler = logged
    thread = threading.Thread(target=lambda: logger.info("uploaded %d capture(s)", 2))
    thread.start()
    thread.join()
    [line] = handler.take()
    assert line.text == "Uploaded 2 capture(s)" and line.kind == KIND_UPLOAD and line.level == logging.INFO
    assert line.created_at.tzinfo is not None
    assert abs((datetime.now(UTC) - line.created_at).total_seconds()) < 60
    assert handler.take() == []


def test_the_handler_skips_debug_lines_by_default(logged: Logged) -> None:
    logger, handler = logged
    logger.debug("noise")
    logger.warning("kept")
    assert [line.text for line in handler.take()] == ["Kept"]


def test_an_exception_adds_its_type_and_message_but_no_traceback(logged: Logged) -> None:
    logger, handler = logged
    try:
        raise OSError("disk full")
    except OSError:
        logger.exception("spooling failed")
    [line] = handler.take()
    assert line.text == "Spooling failed: disk full" and line.kind == KIND_ERROR
    assert line.detail == "spooling failed (OSError: disk full)"  # the hover shows the original
    assert "Traceback" not in line.text and "Traceback" not in line.detail


def test_a_full_queue_counts_dropped_lines_and_take_keeps_the_oldest_in_order(logged: Logged) -> None:
    logger, handler = logged
    for number in range(5):
        logger.info("line %d", number)
    assert handler.dropped_count == 2
    assert [line.text for line in handler.take(limit=2)] == ["Line 0", "Line 1"]
    assert [line.text for line in handler.take()] == ["Line 2"]


# --------------------------------------------------------------------------- the pane (X)
@pytest.fixture
def root(xvfb: Any) -> Iterator[tk.Tk]:
    window = tk.Tk()
    yield window
    window.destroy()


def _line(number: int, kind: str = "agent") -> LogLine:
    return LogLine(datetime(2026, 11, 25, 18, 0, tzinfo=UTC), logging.INFO, kind, f"line {number}")


@pytest.mark.integration
def test_log_pane_caps_its_lines_and_colours_them_by_kind(root: tk.Tk) -> None:
    pane = LogPane(root, max_lines=50)
    pane.pack(fill="both", expand=True)
    pane.append(_line(number, "capture" if number % 2 else "upload") for number in range(1, 121))
    root.update()
    lines = pane.lines_text()
    assert pane.line_count == 50 and len(lines) == 50
    assert lines[0].endswith("line 71") and lines[-1].endswith("line 120")
    assert pane.kinds_of_last(2) == ["capture", "upload"]
    assert pane.text.tag_cget("capture", "foreground") != pane.text.tag_cget("upload", "foreground")


@pytest.mark.integration
def test_log_pane_follows_new_lines_unless_the_user_scrolled_up(root: tk.Tk) -> None:
    pane = LogPane(root)
    pane.pack(fill="both", expand=True)
    root.geometry("600x200")
    pane.append(_line(number) for number in range(200))
    root.update()
    assert pane.at_bottom()
    pane.text.yview_moveto(0.2)
    root.update()
    pane.append([_line(999)])
    root.update()
    assert not pane.at_bottom() and pane.text.yview()[0] == pytest.approx(0.2, abs=0.02)
    pane.text.yview_moveto(1.0)
    root.update()
    pane.append([_line(1000)])
    root.update()
    assert pane.at_bottom()


@pytest.mark.integration
def test_records_logged_on_other_threads_reach_the_pane_through_the_queue(root: tk.Tk) -> None:
    handler = QueueLogHandler()
    logger = logging.getLogger("screenshot_manager.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        thread = threading.Thread(target=lambda: logger.info("screenshot taken: %s", "key.jpg"))
        thread.start()
        thread.join()
    finally:
        logger.removeHandler(handler)
    pane = LogPane(root)
    assert pane.drain(handler) == 1
    assert pane.lines_text()[0].endswith("Screenshot taken: key.jpg")
    assert pane.kinds_of_last(1) == [KIND_CAPTURE]


# --------------------------------------------------------------------------- plain words (issue 13)
def _said(text: str, kind: str = "upload", detail: str = "", ref: str | None = None) -> LogLine:
    return LogLine(datetime(2026, 12, 2, 20, 8, tzinfo=UTC), logging.INFO, kind, text, detail, ref)


@pytest.mark.integration
def test_identical_lines_in_a_row_merge_into_one_that_counts(root: tk.Tk) -> None:
    pane = LogPane(root)
    pane.append([_said("Offline: cannot reach the server")] * 4)
    pane.append([_said("Back online: activity delivered"), _said("Offline: cannot reach the server")])
    lines = pane.lines_text()
    assert len(lines) == 3 and pane.line_count == 3
    assert lines[0].endswith("Offline: cannot reach the server \N{MULTIPLICATION SIGN}4")
    assert lines[2].endswith("Offline: cannot reach the server")  # not merged across another line
    pane.append([_said("Offline: cannot reach the server", kind="error")])
    assert pane.lines_text()[-1].endswith("server")  # another kind is another line
    assert pane.kinds_of_last(2) == ["upload", "error"]


@pytest.mark.integration
def test_a_capture_line_is_amended_when_its_upload_is_done(root: tk.Tk) -> None:
    pane = LogPane(root, max_lines=5)
    pane.append([_said("Screenshot taken (blurred)", "capture", "ann/k1.jpg · 1920x1080", ref="ann/k1.jpg")])
    pane.append([_said("Screenshot taken (blurred)", "capture", ref="ann/k2.jpg")])  # never merged: refs
    assert pane.amend("ann/k1.jpg", ", uploaded")
    assert pane.lines_text()[0].endswith("Screenshot taken (blurred), uploaded")
    assert pane.lines_text()[1].endswith("Screenshot taken (blurred)")
    assert not pane.amend("ann/k1.jpg", ", uploaded")  # once
    pane.append(_said(f"line {number}") for number in range(6))  # k2's line scrolls out of the cap
    assert not pane.amend("ann/k2.jpg", ", uploaded")
    assert pane.kinds_of_last(1) == ["upload"]


@pytest.mark.integration
def test_hovering_a_line_shows_its_original_words(root: tk.Tk) -> None:
    pane = LogPane(root)
    pane.pack(fill="both", expand=True)
    root.geometry("700x300")
    pane.append([_said("Checking for new settings failed: the server had a problem", "warning",
                       "the config job failed: config poll: HTTP 503 (unavailable)"), _said("Plain")])
    root.update()
    x, y, _width, height = pane.text.bbox("1.0") or (0, 0, 0, 0)
    original = "the config job failed: config poll: HTTP 503 (unavailable)"
    assert pane.detail_at(x + 5, y + height // 2) == original
    second = pane.text.bbox("2.0")
    assert second is not None and pane.detail_at(second[0] + 5, second[1] + 2) == ""  # nothing more to say
    pane.tooltip.show(pane.detail_at(x + 5, y + 2), 100, 100)
    root.update()
    assert pane.tooltip.window is not None and pane.tooltip.text.startswith("the config job failed")
    pane.tooltip.hide()
    assert pane.tooltip.window is None
