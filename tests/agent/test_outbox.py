"""The minute outbox: samples per user, oldest first, a minute stored twice kept once, removal, survival."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.outbox import Outbox
from contract.activity import MinuteSample

START = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


def sample(minute: int, keys: int = 0, state: str = "tracking") -> MinuteSample:
    return MinuteSample(
        minute_start=START + timedelta(minutes=minute), active_seconds=min(keys, 60), keys=keys, clicks=0,
        scrolls=0, mouse_px=0, state=state, timezone="Europe/Berlin", utc_offset_minutes=60,
    )


def test_pending_is_oldest_first_per_user_and_limited(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    try:
        assert outbox.add("ann", [sample(2), sample(0), sample(1)]) == 3
        outbox.add("bob", [sample(0, keys=9)])
        assert [s["minute_start"] for s in outbox.pending("ann")] == [
            "2026-11-25T18:00:00+00:00", "2026-11-25T18:01:00+00:00", "2026-11-25T18:02:00+00:00"
        ]
        assert len(outbox.pending("ann", limit=2)) == 2
        assert outbox.pending("bob")[0]["keys"] == 9
        assert (outbox.count("ann"), outbox.count("bob"), outbox.count()) == (3, 1, 4)
    finally:
        outbox.close()


def test_pending_is_the_post_activity_json(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    try:
        outbox.add("ann", [sample(0, keys=5)])
        assert outbox.pending("ann") == [sample(0, keys=5).to_json()]
    finally:
        outbox.close()


def test_a_minute_stored_twice_keeps_the_newer_copy(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    try:
        outbox.add("ann", [sample(0, keys=1)])
        outbox.add("ann", [sample(0, keys=4)])
        assert outbox.count("ann") == 1 and outbox.pending("ann")[0]["keys"] == 4
    finally:
        outbox.close()


def test_remove_forgets_only_the_accepted_minutes_of_that_user(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    try:
        outbox.add("ann", [sample(0), sample(1)])
        outbox.add("bob", [sample(0)])
        outbox.remove("ann", ["2026-11-25T18:00:00+00:00"])
        assert [s["minute_start"] for s in outbox.pending("ann")] == ["2026-11-25T18:01:00+00:00"]
        assert outbox.count("bob") == 1
    finally:
        outbox.close()


def test_adding_nothing_writes_nothing(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    try:
        assert outbox.add("ann", []) == 0 and outbox.count() == 0
    finally:
        outbox.close()


def test_samples_survive_a_restart(tmp_path: Path) -> None:
    first = Outbox(tmp_path)
    first.add("ann", [sample(0, keys=3), sample(1, state="idle")])
    first.close()
    second = Outbox(tmp_path)
    try:
        assert [s["state"] for s in second.pending("ann")] == ["tracking", "idle"]
    finally:
        second.close()
