"""Battery reading and the suspend/resume policy.

Below ``battery_threshold`` percent and not plugged in, tracking is suspended (no screenshots,
activity state ``suspended``). It resumes when the machine is plugged in or the charge is back
at threshold + 5 % (hysteresis, so it does not flap around the threshold). A machine without
a battery never suspends. Each transition is one log line with the percentage.

The engine's scheduler calls :meth:`BatteryMonitor.poll` every 30 s; nothing here starts threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from contract.errors import TransientError, VinovaError

logger = logging.getLogger(__name__)

DEFAULT_HYSTERESIS_PERCENT = 5


@dataclass(frozen=True, slots=True)
class BatteryReading:
    """One battery reading: charge in percent (0-100) and whether external power is connected."""

    percent: float
    plugged_in: bool


BatteryReader = Callable[[], BatteryReading | None]
"""Reads the battery now; None means the machine has no battery. May raise TransientError."""


def read_psutil_battery() -> BatteryReading | None:
    """The real reader (psutil): None without a battery; TransientError if the OS read fails.

    Called from the scheduler thread; does not block beyond a sysfs/OS read. A power state the
    OS cannot determine counts as not plugged in.
    """
    sensors_battery = getattr(psutil, "sensors_battery", None)
    if sensors_battery is None:  # a platform psutil has no battery support for
        return None
    try:
        battery = sensors_battery()
    except (OSError, RuntimeError, ValueError) as exc:
        raise TransientError(f"could not read the battery: {exc}") from exc
    if battery is None:
        return None
    percent = max(0.0, min(100.0, float(battery.percent)))
    return BatteryReading(percent=percent, plugged_in=bool(battery.power_plugged))


class BatteryPolicy:
    """The suspend/resume decision with hysteresis; not thread-safe (one scheduler thread calls it)."""

    def __init__(
        self, threshold_percent: int, hysteresis_percent: int = DEFAULT_HYSTERESIS_PERCENT
    ) -> None:
        self._threshold_percent = threshold_percent
        self._hysteresis_percent = hysteresis_percent
        self._suspended = False
        self._last_reading: BatteryReading | None = None

    @property
    def threshold_percent(self) -> int:
        """Suspend below this charge (percent)."""
        return self._threshold_percent

    @property
    def resume_percent(self) -> float:
        """Charge at which a suspended, unplugged machine resumes (threshold + hysteresis, at most 100)."""
        return min(100.0, float(self._threshold_percent + self._hysteresis_percent))

    @property
    def suspended(self) -> bool:
        """Whether tracking is suspended for the battery right now."""
        return self._suspended

    @property
    def last_reading(self) -> BatteryReading | None:
        """The reading of the last update (None before the first or without a battery)."""
        return self._last_reading

    def set_threshold(self, percent: int) -> bool:
        """Apply a new threshold at once, re-judging the last reading; returns ``suspended``."""
        if percent != self._threshold_percent:
            logger.info("battery threshold %s%% -> %s%%", self._threshold_percent, percent)
            self._threshold_percent = percent
            if self._last_reading is not None:
                self._judge(self._last_reading)
        return self._suspended

    def update(self, reading: BatteryReading | None) -> bool:
        """Judge a new reading; returns whether tracking is suspended after it."""
        self._last_reading = reading
        if reading is None:
            if self._suspended:
                self._suspended = False
                logger.info("battery no longer reported: resuming tracking")
            return False
        self._judge(reading)
        return self._suspended

    def _judge(self, reading: BatteryReading) -> None:
        if not self._suspended:
            if not reading.plugged_in and reading.percent < self._threshold_percent:
                self._suspended = True
                logger.warning(
                    "battery at %.0f%% and not plugged in (threshold %s%%): suspending tracking",
                    reading.percent,
                    self._threshold_percent,
                )
            return
        if reading.plugged_in:
            self._suspended = False
            logger.info("battery at %.0f%%, plugged in: resuming tracking", reading.percent)
        elif reading.percent >= self.resume_percent:
            self._suspended = False
            logger.info(
                "battery at %.0f%% (resume level %.0f%%): resuming tracking",
                reading.percent,
                self.resume_percent,
            )


class BatteryMonitor:
    """Reads the battery and feeds the policy; calls ``on_change(suspended, reading)`` on each transition.

    ``poll()`` is meant for the engine's scheduler thread (every 30 s); ``on_change`` runs on
    that thread. A failed read is logged once per failure streak and keeps the current state.
    """

    def __init__(
        self,
        reader: BatteryReader = read_psutil_battery,
        policy: BatteryPolicy | None = None,
        on_change: Callable[[bool, BatteryReading | None], None] | None = None,
    ) -> None:
        self._reader = reader
        self._policy = policy if policy is not None else BatteryPolicy(threshold_percent=20)
        self._on_change = on_change
        self._read_failing = False

    @property
    def policy(self) -> BatteryPolicy:
        """The policy this monitor feeds."""
        return self._policy

    @property
    def suspended(self) -> bool:
        """Whether tracking is suspended for the battery right now."""
        return self._policy.suspended

    def set_threshold(self, percent: int) -> bool:
        """Apply a new threshold at once (e.g. from a config change); returns ``suspended``."""
        before = self._policy.suspended
        after = self._policy.set_threshold(percent)
        if after != before:
            self._notify(after, self._policy.last_reading)
        return after

    def poll(self) -> bool:
        """Read the battery once and apply the policy; returns whether tracking is suspended."""
        try:
            reading = self._reader()
        except VinovaError as exc:
            if not self._read_failing:
                logger.warning("battery read failed, keeping the current state: %s", exc)
            self._read_failing = True
            return self._policy.suspended
        if self._read_failing:
            logger.info("battery readable again")
            self._read_failing = False
        before = self._policy.suspended
        after = self._policy.update(reading)
        if after != before:
            self._notify(after, reading)
        return after

    def _notify(self, suspended: bool, reading: BatteryReading | None) -> None:
        if self._on_change is not None:
            self._on_change(suspended, reading)
