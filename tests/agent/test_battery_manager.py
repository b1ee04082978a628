"""battery_manager: the suspend/resume policy through an injected reader, plus the real psutil reader."""

from __future__ import annotations

import logging

import pytest

from battery_manager import BatteryMonitor, BatteryPolicy, BatteryReading, read_psutil_battery
from contract.errors import TransientError


def on_battery(percent: float) -> BatteryReading:
    return BatteryReading(percent=percent, plugged_in=False)


def plugged(percent: float) -> BatteryReading:
    return BatteryReading(percent=percent, plugged_in=True)


class ScriptedReader:
    """A battery reader that returns the next scripted reading (or raises it) on each call."""

    def __init__(self, *readings: BatteryReading | Exception | None) -> None:
        self._readings = list(readings)
        self.calls = 0

    def __call__(self) -> BatteryReading | None:
        reading = self._readings[min(self.calls, len(self._readings) - 1)]
        self.calls += 1
        if isinstance(reading, Exception):
            raise reading
        return reading


def battery_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "battery_manager"]


def test_suspends_below_threshold_on_battery_and_not_at_it() -> None:
    policy = BatteryPolicy(threshold_percent=20)

    assert policy.update(on_battery(20)) is False
    assert policy.update(on_battery(19.5)) is True
    assert policy.suspended is True
    assert policy.last_reading == on_battery(19.5)


def test_plugged_in_never_suspends_and_resumes_at_once() -> None:
    policy = BatteryPolicy(threshold_percent=20)

    assert policy.update(plugged(3)) is False
    assert policy.update(on_battery(3)) is True
    assert policy.update(plugged(3)) is False


def test_hysteresis_keeps_suspended_until_threshold_plus_five() -> None:
    policy = BatteryPolicy(threshold_percent=20)
    policy.update(on_battery(18))

    flapping = [policy.update(on_battery(percent)) for percent in (19, 20, 21, 24, 24.9)]
    resumed = policy.update(on_battery(25))
    again_below_resume_level = policy.update(on_battery(22))

    assert flapping == [True] * 5
    assert resumed is False
    assert again_below_resume_level is False


def test_no_battery_never_suspends_and_ends_a_suspension() -> None:
    policy = BatteryPolicy(threshold_percent=100)
    assert policy.update(None) is False

    policy.update(on_battery(50))
    assert policy.suspended is True
    assert policy.update(None) is False


def test_threshold_zero_never_suspends_and_full_threshold_resumes_at_100() -> None:
    never = BatteryPolicy(threshold_percent=0)
    assert never.update(on_battery(0)) is False

    full = BatteryPolicy(threshold_percent=100)
    assert full.update(on_battery(99)) is True
    assert full.resume_percent == 100
    assert full.update(on_battery(100)) is False


def test_each_transition_is_one_log_line_with_the_percentage(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="battery_manager")
    policy = BatteryPolicy(threshold_percent=20)

    for reading in (on_battery(30), on_battery(15), on_battery(14), on_battery(16), plugged(16), plugged(17)):
        policy.update(reading)

    lines = battery_lines(caplog)
    assert len(lines) == 2
    assert "15%" in lines[0] and "suspending" in lines[0]
    assert "16%" in lines[1] and "plugged in" in lines[1] and "resuming" in lines[1]


def test_new_threshold_takes_effect_on_the_last_reading() -> None:
    changes: list[tuple[bool, BatteryReading | None]] = []
    monitor = BatteryMonitor(
        reader=ScriptedReader(on_battery(30)),
        policy=BatteryPolicy(threshold_percent=20),
        on_change=lambda suspended, reading: changes.append((suspended, reading)),
    )
    assert monitor.poll() is False

    assert monitor.set_threshold(40) is True
    assert monitor.set_threshold(10) is False  # 30 >= 10 + 5
    assert changes == [(True, on_battery(30)), (False, on_battery(30))]


def test_monitor_reports_only_transitions_to_on_change() -> None:
    changes: list[tuple[bool, BatteryReading | None]] = []
    reader = ScriptedReader(on_battery(50), on_battery(10), on_battery(9), plugged(9), plugged(60), None)
    monitor = BatteryMonitor(reader, BatteryPolicy(20), lambda s, r: changes.append((s, r)))

    results = [monitor.poll() for _ in range(6)]

    assert results == [False, True, True, False, False, False]
    assert changes == [(True, on_battery(10)), (False, plugged(9))]
    assert monitor.suspended is False


def test_a_failed_read_keeps_the_state_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="battery_manager")
    failure = TransientError("sysfs unreadable")
    reader = ScriptedReader(on_battery(10), failure, failure, failure, on_battery(10))
    monitor = BatteryMonitor(reader=reader, policy=BatteryPolicy(20))

    results = [monitor.poll() for _ in range(5)]

    assert results == [True] * 5
    failure_lines = [line for line in battery_lines(caplog) if "read failed" in line]
    assert len(failure_lines) == 1


def test_real_psutil_reader_returns_none_or_a_sane_reading() -> None:
    reading = read_psutil_battery()

    if reading is not None:
        assert 0 <= reading.percent <= 100
        assert isinstance(reading.plugged_in, bool)
    expected = reading is not None and not reading.plugged_in and reading.percent < 20
    assert BatteryPolicy(threshold_percent=20).update(reading) is expected
