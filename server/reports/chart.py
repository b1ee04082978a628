"""The Report's chart of tracked hours per day, laid out on the server for an inline SVG (no script)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from server.reports.days import Report

CHART_HEIGHT_PX = 200
PLOT_TOP_PX = 18
PLOT_BOTTOM_PX = 170
AXIS_LEFT_PX = 36
PLOT_WIDTH_PX = 720
MAX_BAR_STEP_PX = 96
MAX_DAY_LABELS = 16
MIN_VALUE_STEP_PX = 30  # narrower bars carry their value in the tooltip only


@dataclass(frozen=True, slots=True)
class Bar:
    """One day's bar: its place in the SVG, its hours and labels (no data: no bar, a "—")."""

    day: date
    x: float
    width: float
    y: float
    height: float
    hours: float | None
    value_text: str
    day_text: str
    show_day: bool
    show_value: bool = True

    @property
    def centre(self) -> float:
        """The bar's horizontal centre, where its labels go."""
        return self.x + self.width / 2


@dataclass(frozen=True, slots=True)
class Tick:
    """A horizontal grid line with its hour label."""

    y: float
    label: str


@dataclass(frozen=True, slots=True)
class HoursChart:
    """The whole chart: size, bars, grid lines and a sentence describing it."""

    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_bottom: int
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    description: str


def _hours_text(hours: float) -> str:
    minutes = round(hours * 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def _tick_step(top_hours: float) -> int:
    for step in (1, 2, 4, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if top_hours / step <= 5:
            return step
    return math.ceil(top_hours / 5)


def hours_chart(report: Report) -> HoursChart:
    """Tracked hours per day, all listed users together; a day without any data draws "—", not 0."""
    days = report.days
    hours: list[float | None] = []
    for day in days:
        with_data = [user.days[day] for user in report.users if day in user.days]
        hours.append(sum(tally.tracked_seconds for tally in with_data) / 3600 if with_data else None)
    known = [value for value in hours if value is not None]
    step = _tick_step(max(known, default=0) or 1)
    top = step * max(1, math.ceil(max(known, default=0) / step))
    plot_height = PLOT_BOTTOM_PX - PLOT_TOP_PX
    label_every = max(1, math.ceil(len(days) / MAX_DAY_LABELS))
    step_px = min(MAX_BAR_STEP_PX, PLOT_WIDTH_PX / len(days))
    gap_px = min(12.0, step_px / 4)
    bars = []
    for index, (day, value) in enumerate(zip(days, hours, strict=True)):
        height = 0.0 if value is None else plot_height * value / top
        bars.append(Bar(
            day=day, x=round(AXIS_LEFT_PX + index * step_px + gap_px / 2, 1),
            width=round(step_px - gap_px, 1),
            y=PLOT_BOTTOM_PX - height, height=height, hours=value,
            value_text="—" if value is None else _hours_text(value),
            day_text=day.strftime("%a %d") if len(days) <= 14 else day.strftime("%m-%d"),
            show_day=index % label_every == 0, show_value=step_px >= MIN_VALUE_STEP_PX,
        ))
    ticks = tuple(
        Tick(PLOT_BOTTOM_PX - plot_height * hours_value / top, f"{hours_value} h")
        for hours_value in range(0, top + 1, step)
    )
    days_with_data = sum(1 for value in hours if value is not None)
    description = (
        f"Tracked hours per day, {report.first_day.isoformat()} to {report.last_day.isoformat()}: "
        + ", ".join(f"{bar.day.isoformat()} {bar.value_text}" for bar in bars)
        + f" ({days_with_data} of {len(days)} days with data)."
    )
    width = math.ceil(AXIS_LEFT_PX + len(days) * step_px + 8)
    return HoursChart(
        width=width, height=CHART_HEIGHT_PX, plot_left=AXIS_LEFT_PX, plot_right=width - 8,
        plot_bottom=PLOT_BOTTOM_PX, bars=tuple(bars), ticks=ticks, description=description,
    )
