"""Captures held on the device before upload, deleted there, and the fact reported (issue 12).

The real spool in tmp_path, the real upload worker, a scripted uploader and a fake clock: the
delay is measured on the clock the worker is given, so no test waits for it in real time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from spool_support import START, FakeClock, ScriptedUploader, add_capture
from support import wait_until

from agent.events import ConfigApplied, EventHub, Uploaded
from agent.spool import QUEUED, UPLOADED, WITHHELD, WITHHELD_REPORTED, CaptureRecord, CaptureStore
from agent.spool_files import sidecar_path
from agent.worker import UploadWorker
from contract.config_schema import AgentConfig
from contract.errors import PermanentError, TransientError

DELAY_SECONDS = 1200  # captures 1.. are taken at START + n s; the fake clock starts at START + 1000 s


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CaptureStore]:
    capture_store = CaptureStore(tmp_path / "agent")
    yield capture_store
    capture_store.close()


class Reports:
    """A scripted ``report_withheld``: raises the queued errors first, then records each capture."""

    def __init__(self, errors: list[Exception] | None = None) -> None:
        self.errors = list(errors or [])
        self.calls = 0
        self.reported: list[CaptureRecord] = []

    def __call__(self, record: CaptureRecord) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        self.reported.append(record)


def make_worker(
    store: CaptureStore, uploader: ScriptedUploader, clock: FakeClock, **options: Any
) -> UploadWorker:
    settings: dict[str, Any] = {
        "concurrency": 2, "backoff_initial_seconds": 0.05, "backoff_max_seconds": 0.2,
        "monotonic": clock.monotonic, "clock": clock.wall, "upload_delay_seconds": DELAY_SECONDS,
        "register": lambda record: None,
    }
    settings.update(options)
    return UploadWorker(store=store, uploader=uploader, **settings)


def test_a_capture_waits_out_the_delay_on_the_fake_clock_then_goes(store: CaptureStore) -> None:
    record = add_capture(store, 1)
    uploader, clock = ScriptedUploader(), FakeClock()
    worker = make_worker(store, uploader, clock)
    worker.start()
    try:
        held = wait_until(worker.held_back, message="the capture listed as held back")
        assert [item.record.capture_id for item in held] == [record.capture_id]
        assert held[0].upload_at == record.taken_at + timedelta(seconds=DELAY_SECONDS)
        assert worker.status().held_back == 1
        clock.advance(DELAY_SECONDS - 1000)  # one second before it is due
        assert uploader.calls == [] and store.get(record.capture_id).status == QUEUED  # type: ignore[union-attr]
        clock.advance(1.5)
        wait_until(lambda: store.counts()[UPLOADED] == 1, message="the upload once the wait is over")
    finally:
        worker.stop()
    assert uploader.calls == [record.key]
    assert worker.held_back() == []


def test_a_restart_keeps_the_remaining_wait(store: CaptureStore) -> None:
    record = add_capture(store, 1)
    uploader, clock = ScriptedUploader(), FakeClock()
    first = make_worker(store, uploader, clock)
    first.start()
    wait_until(first.held_back, message="held by the first worker")
    first.stop()
    clock.advance(150)  # the agent was off for a while: 50 s of the wait remain
    second = make_worker(store, uploader, clock)
    second.start()
    try:
        held = wait_until(second.held_back, message="still held after the restart")
        assert (held[0].upload_at - clock.wall()).total_seconds() == pytest.approx(51, abs=0.01)
        assert uploader.calls == []
        clock.advance(52)
        wait_until(lambda: store.counts()[UPLOADED] == 1, message="the upload after the restart")
    finally:
        second.stop()
    assert uploader.calls == [record.key]


def test_deleting_a_held_capture_removes_its_files_and_reports_only_the_fact(store: CaptureStore) -> None:
    kept, deleted = add_capture(store, 1), add_capture(store, 2)
    uploader, clock, reports = ScriptedUploader(), FakeClock(), Reports()
    worker = make_worker(store, uploader, clock, report_withheld=reports)
    worker.start()
    try:
        wait_until(lambda: len(worker.held_back()) == 2, message="both held")
        assert worker.withhold(deleted.capture_id) is not None
        assert not deleted.path.exists() and not sidecar_path(deleted.path).exists()
        wait_until(lambda: reports.reported, message="the withheld report")
        clock.advance(DELAY_SECONDS)
        wait_until(lambda: store.counts()[UPLOADED] == 1, message="the other capture uploaded")
    finally:
        worker.stop()
    assert [record.taken_at for record in reports.reported] == [deleted.taken_at]
    assert uploader.calls == [kept.key]  # the deleted capture never left the machine
    assert store.get(deleted.capture_id).status == WITHHELD_REPORTED  # type: ignore[union-attr]
    assert worker.withhold(deleted.capture_id) is None  # deleting twice changes nothing
    assert worker.withhold(kept.capture_id) is None  # too late: uploaded


def test_an_offline_report_is_retried_and_survives_a_restart(store: CaptureStore) -> None:
    record = add_capture(store, 1)
    uploader, clock = ScriptedUploader(), FakeClock()
    offline = Reports([TransientError("server down")] * 1000)
    first = make_worker(store, uploader, clock, report_withheld=offline)
    first.start()
    wait_until(first.held_back, message="held")
    first.withhold(record.capture_id)

    def retried() -> bool:
        clock.advance(1)  # past the backoff, which runs on the fake clock
        return offline.calls >= 2

    wait_until(retried, message="a retry while offline")
    first.stop()
    assert store.get(record.capture_id).status == WITHHELD  # type: ignore[union-attr]
    online = Reports()
    second = make_worker(store, uploader, clock, report_withheld=online)
    second.start()
    try:
        wait_until(lambda: online.reported, message="the report after the restart")
    finally:
        second.stop()
    assert store.get(record.capture_id).status == WITHHELD_REPORTED  # type: ignore[union-attr]
    assert uploader.calls == []


def test_a_refused_report_is_not_retried_forever(store: CaptureStore) -> None:
    record = add_capture(store, 1)
    reports = Reports([PermanentError("HTTP 404 not_found")])
    worker = make_worker(store, ScriptedUploader(), FakeClock(), report_withheld=reports)
    worker.start()
    try:
        wait_until(worker.held_back, message="held")
        worker.withhold(record.capture_id)
        wait_until(lambda: store.get(record.capture_id).status == WITHHELD_REPORTED,  # type: ignore[union-attr]
                   message="given up")
    finally:
        worker.stop()
    assert reports.calls == 1
    assert store.get(record.capture_id).reason == "HTTP 404 not_found"  # type: ignore[union-attr]


def test_the_server_id_is_kept_with_the_capture_and_announced(store: CaptureStore) -> None:
    record = add_capture(store, 1)
    events = EventHub()
    announced: list[Uploaded] = []
    events.subscribe(Uploaded, announced.append)
    worker = make_worker(store, ScriptedUploader(), FakeClock(), register=lambda _record: 42,
                         upload_delay_seconds=0, events=events)
    worker.start()
    try:
        wait_until(lambda: announced, message="the Uploaded event")
    finally:
        worker.stop()
    assert store.get(record.capture_id).server_id == 42  # type: ignore[union-attr]
    assert announced[0].record.server_id == 42 and announced[0].record.status == UPLOADED


def test_the_config_in_force_sets_the_delay(store: CaptureStore) -> None:
    events = EventHub()
    clock = FakeClock()
    worker = make_worker(store, ScriptedUploader(), clock, upload_delay_seconds=0, events=events)
    record = add_capture(store, 999)  # taken at START + 999 s: one second ago on the fake clock
    assert worker.held_back() == []
    events.publish(ConfigApplied(AgentConfig(upload_delay_seconds=60), {"upload_delay_seconds": (0, 60)}))
    assert [item.record.capture_id for item in worker.held_back()] == [record.capture_id]
    assert worker.held_back()[0].upload_at == START + timedelta(seconds=1059)


def test_recovery_removes_a_file_left_by_a_crash_during_a_deletion(store: CaptureStore) -> None:
    record = add_capture(store, 1)
    assert store.change_status(record.capture_id, WITHHELD, only_from=(QUEUED,))  # then the crash
    assert record.path.exists()

    queued = store.recover()

    assert queued == [] and not record.path.exists() and not sidecar_path(record.path).exists()
    assert store.spool_bytes() == 0
    assert [item.capture_id for item in store.with_status(WITHHELD)] == [record.capture_id]


def test_the_holding_thread_sleeps_until_a_capture_is_held_and_stops_at_once(store: CaptureStore) -> None:
    from agent.holding import HoldBack

    readings: list[int] = []
    clock = FakeClock()

    def counted_clock() -> Any:
        readings.append(1)
        return clock.wall()

    released: list[int] = []
    holding = HoldBack(store, counted_clock, released.append, delay_seconds=60)
    holding.start()
    thread = holding._thread
    assert thread is not None
    holding.stop(5)  # at once after start: the thread must not sleep through the stop
    assert not thread.is_alive()
    holding.start()
    record = add_capture(store, 1)
    holding.hold(record)  # the sleeping thread wakes for it and releases it once its wait is over
    wait_until(lambda: readings, 5, message="the holding thread woken by a held capture")
    clock.advance(3600)
    wait_until(lambda: released == [record.capture_id], 5, message="the held capture released")
    holding.stop(5)
