"""The zone each user's days are shown in: the admin's choice, else their newest sample's, else config."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.selectable import ScalarSelect

import time_manager
from contract.errors import ConfigError
from server.db.config_data import effective_config
from server.db.models import ActivitySample, User

logger = logging.getLogger(__name__)

T = TypeVar("T")


# A local day's UTC bounds (±16 hours) and the pages' previous/next links must stay inside what
# datetime can hold: 0001-01-01 and 9999-12-31 raised OverflowError (issue 10, item 13).
FIRST_REPORT_DAY = date(2, 1, 1)
LAST_REPORT_DAY = date(9998, 12, 31)


def check_report_day(day: date, field: str) -> date:
    """``day`` when reports can show it; ConfigError naming ``field`` when it is too far out."""
    if not FIRST_REPORT_DAY <= day <= LAST_REPORT_DAY:
        raise ConfigError({field: f"must be between {FIRST_REPORT_DAY} and {LAST_REPORT_DAY}"})
    return day


@dataclass(frozen=True, slots=True)
class ZoneChoice:
    """The zone a user's days are shown in, and where it came from."""

    name: str
    source: str  # "chosen" (by the admin), "activity" (newest sample), "config", "server"

    @property
    def note(self) -> str:
        """Plain words for the page: why this zone."""
        return {
            "chosen": "chosen for this page",
            "activity": "the user's zone, from their newest activity",
            "config": "the user's configured zone (no activity yet)",
            "server": "the server's zone: the user's config says \"local\" and there is no activity yet",
        }[self.source]


def of_newest_sample(column: InstrumentedAttribute[T]) -> ScalarSelect[T]:
    """``column`` of each user's newest activity sample, as a subquery correlated with ``User``."""
    return (
        select(column)
        .where(ActivitySample.user_id == User.id)
        # Devices share a minute: the most active one's row speaks for it.
        .order_by(ActivitySample.minute_start.desc(), ActivitySample.active_seconds.desc())
        .limit(1)
        .correlate(User)
        .scalar_subquery()
    )


def user_zones(session: Session, users: Sequence[User], chosen: str | None = None) -> dict[int, ZoneChoice]:
    """Each user's display zone: ``chosen`` for all, else their newest sample's zone, else their config's."""
    if chosen is not None:
        name = time_manager.zone_name(chosen)
        return {user.id: ZoneChoice(name, "chosen") for user in users}
    newest_zone = of_newest_sample(ActivitySample.timezone)
    ids = [user.id for user in users]
    query = select(User.id, newest_zone).where(User.id.in_(ids))
    found: dict[int, str | None] = {int(user_id): zone for user_id, zone in session.execute(query)}
    zones: dict[int, ZoneChoice] = {}
    for user in users:
        zone = found.get(user.id)
        if zone is not None:
            zones[user.id] = ZoneChoice(zone, "activity")
            continue
        configured = str(effective_config(session, user.id).get("timezone") or time_manager.LOCAL_TIMEZONE)
        if configured == time_manager.LOCAL_TIMEZONE:
            zones[user.id] = ZoneChoice(time_manager.system_zone_name(), "server")
        else:
            zones[user.id] = ZoneChoice(configured, "config")
    return zones
