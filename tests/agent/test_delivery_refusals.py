"""Refused minutes are set aside, never resent, never block the rest; a full disk keeps minutes in memory.

Issue 10 items 6 and 7: the sender is a fake behind the ActivitySender seam that judges each minute
with the server's own validator (contract.activity.parse_sample); the outbox is the real agent.db.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.activity_answer import ActivityAnswer, BatchRefused, Refusal
from agent.delivery import ActivityDelivery
from agent.localdb import DiskFull
from agent.outbox import Outbox
from contract.activity import InvalidSample, MinuteSample, parse_sample
from contract.errors import PermanentError

NOW = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


def minute(minutes_ago: float, keys: int = 1) -> MinuteSample:
    return MinuteSample(
        minute_start=NOW - timedelta(minutes=minutes_ago), active_seconds=min(keys, 60), keys=keys, clicks=0,
        scrolls=0, mouse_px=0, state="tracking", timezone="UTC", utc_offset_minutes=0,
    )


class Server:
    """Judges each sample like the server; ``style`` is how it answers refusals.

    "new": 200 with the refused listed by index; "old": a whole-batch 400 naming samples[i];
    "mute": a whole-batch PermanentError naming nothing (a proxy, an unknown server).
    """

    def __init__(self, style: str) -> None:
        self.style = style
        self.stored: dict[str, dict[str, Any]] = {}
        self.posts: list[list[dict[str, Any]]] = []
        self.reports: list[dict[str, int] | None] = []

    def post_activity(
        self, samples: list[dict[str, Any]], agent: dict[str, int] | None = None
    ) -> ActivityAnswer:
        self.posts.append(samples)
        self.reports.append(agent)
        errors: dict[str, str] = {}
        refused: list[Refusal] = []
        for index, raw in enumerate(samples):
            try:
                parse_sample(raw, NOW, f"samples[{index}]")
            except InvalidSample as exc:
                errors.update(exc.errors)
                field, message = sorted(exc.errors.items())[0]
                refused.append(Refusal(index, field, message))
        if refused and self.style == "old":
            raise BatchRefused("activity upload: HTTP 400 validation_error", errors)
        if refused and self.style == "mute":
            raise PermanentError("activity upload: HTTP 400 bad_request: refused")
        bad = {refusal.index for refusal in refused}
        for index, raw in enumerate(samples):
            if index not in bad:
                self.stored[raw["minute_start"]] = raw
        return ActivityAnswer(len(samples) - len(bad), tuple(refused))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def delivery_for(
    tmp_path: Path, server: Server, outbox: Outbox | None = None
) -> tuple[ActivityDelivery, Clock]:
    clock = Clock()
    delivery = ActivityDelivery(
        username="ann", sender=server, outbox=outbox or Outbox(tmp_path), stop_event=threading.Event(),
        monotonic=clock,
    )
    return delivery, clock


def one_hour_of_flushes(delivery: ActivityDelivery, clock: Clock) -> None:
    while clock.now < 3600:
        delivery.send(None)
        clock.now += 5


@pytest.mark.parametrize("style", ["new", "old", "mute"])
def test_one_bad_minute_is_set_aside_and_every_other_minute_is_delivered(tmp_path: Path, style: str) -> None:
    server = Server(style)
    delivery, clock = delivery_for(tmp_path, server)
    too_old = minute(60 * 24 * 31)  # older than the server keeps: refused
    delivery.save([too_old, *(minute(m) for m in range(1, 60))])

    one_hour_of_flushes(delivery, clock)

    assert len(server.stored) == 59 and too_old.to_json()["minute_start"] not in server.stored
    assert delivery.waiting() == 0
    assert delivery.set_aside_count() == 1
    (reason,) = delivery.set_aside_reasons()
    assert "30 days" in reason or style == "mute"
    (kept,) = delivery.outbox.set_aside_minutes("ann")
    assert kept.payload == too_old.to_json()


def test_a_set_aside_minute_is_never_sent_again(tmp_path: Path) -> None:
    server = Server("new")
    delivery, clock = delivery_for(tmp_path, server)
    delivery.save([minute(60 * 24 * 31), minute(1)])
    delivery.send(None)
    delivery.save([minute(0)])
    clock.now += 5
    delivery.send(None)
    sent = [sample["minute_start"] for batch in server.posts for sample in batch]
    assert sent.count(minute(60 * 24 * 31).to_json()["minute_start"]) == 1


def test_a_minute_in_the_future_beyond_the_skew_is_set_aside_with_its_reason(tmp_path: Path) -> None:
    server = Server("new")
    delivery, _clock = delivery_for(tmp_path, server)
    delivery.save([minute(-10), minute(1)])
    delivery.send(None)
    (reason,) = delivery.set_aside_reasons()
    assert reason.startswith("minute_start is") and "future" in reason
    assert len(server.stored) == 1


def test_the_agent_report_counts_the_minutes_set_aside(tmp_path: Path) -> None:
    server = Server("new")
    delivery, clock = delivery_for(tmp_path, server)
    delivery.save([minute(60 * 24 * 31), minute(2)])
    delivery.send({"uploads_waiting": 0, "kept_aside": 0})
    delivery.save([minute(1)])
    clock.now += 5
    delivery.send({"uploads_waiting": 2, "kept_aside": 0})
    assert server.reports[-1] == {"uploads_waiting": 2, "kept_aside": 0, "minutes_set_aside": 1}


def test_set_aside_minutes_are_said_plainly_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    delivery, _clock = delivery_for(tmp_path, Server("new"))
    delivery.save([minute(60 * 24 * 31), minute(1)])
    with caplog.at_level(logging.WARNING, logger="agent.delivery"):
        delivery.send(None)
    assert "1 activity minute set aside, the server refused it: minute_start is more than 30 days old" in (
        caplog.text
    )


def test_a_refusal_of_the_body_itself_keeps_every_minute(tmp_path: Path) -> None:
    class RefusesTheReport(Server):
        def post_activity(
            self, samples: list[dict[str, Any]], agent: dict[str, int] | None = None
        ) -> ActivityAnswer:
            self.posts.append(samples)
            raise BatchRefused("HTTP 400 validation_error", {"agent.kept_aside": "must be a whole number"})

    server = RefusesTheReport("new")
    delivery, _clock = delivery_for(tmp_path, server)
    delivery.save([minute(m) for m in range(1, 30)])
    delivery.send(None)
    assert delivery.set_aside_count() == 0 and delivery.waiting() == 29
    assert len(server.posts) == 1  # no splitting: no minute is to blame


def test_a_lone_minute_refused_without_a_reason_is_kept_and_retried_slowly(tmp_path: Path) -> None:
    server = Server("mute")
    delivery, clock = delivery_for(tmp_path, server)
    delivery.save([minute(60 * 24 * 31)])
    delivery.send(None)
    clock.now += 100
    delivery.send(None)
    # Nothing else got through, so the body may be at fault: kept, not set aside, at the slowest pace.
    assert delivery.set_aside_count() == 0 and delivery.waiting() == 1 and len(server.posts) == 1


class FillableOutbox(Outbox):
    """The real outbox behind a seam that fails writes like a full disk while ``full`` is set."""

    full = False

    def add(self, username: str, samples: Any) -> int:
        if self.full:
            raise DiskFull("disk full: cannot write agent.db (database or disk is full)")
        return super().add(username, samples)


def test_a_full_disk_keeps_minutes_in_memory_says_so_once_and_loses_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = FillableOutbox(tmp_path)
    server = Server("new")
    delivery, clock = delivery_for(tmp_path, server, outbox)
    outbox.full = True
    with caplog.at_level(logging.WARNING, logger="agent.delivery"):
        for minutes_ago in range(10, 0, -1):
            delivery.save([minute(minutes_ago)])
            delivery.send(None)
            clock.now += 5
    assert delivery.unsaved == 10 and delivery.waiting() == 10
    said = [record.getMessage() for record in caplog.records if "disk full" in record.getMessage()]
    assert said == ["disk full: 1 minutes kept in memory until there is space"]
    assert not [record for record in caplog.records if record.exc_info]

    outbox.full = False
    delivery.save([])
    delivery.send(None)
    assert delivery.unsaved == 0 and len(server.stored) == 10
