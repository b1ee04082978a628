"""Team today: per user, today's tally in their zone, the agent's status, last seen, backlog and devices."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

import time_manager
from server.db.agents import DeviceStatus, devices_of
from server.db.models import ActivitySample, User
from server.db.users import listed_users
from server.reports.days import zone_day_tallies
from server.reports.tallies import Tally
from server.reports.timeline import Segment, day_segments, slot_states, timeline_summary
from server.reports.zones import ZoneChoice, of_newest_sample, user_zones

logger = logging.getLogger(__name__)

OFFLINE_AFTER = timedelta(minutes=3)
TEAM_SORT_KEYS = ("name", "tracked", "activity", "last_seen")


@dataclass(frozen=True, slots=True)
class TeamMember:
    """One row of Team today."""

    username: str
    zone: ZoneChoice
    today: date
    tally: Tally
    status: str  # tracking | idle | paused | suspended | offline | never
    last_seen: datetime | None
    offline_since: datetime | None
    uploads_waiting: int | None
    kept_aside: int | None
    minutes_set_aside: int | None = None
    devices: tuple[DeviceStatus, ...] = ()
    timeline: tuple[Segment, ...] = ()

    @property
    def timeline_text(self) -> str:
        """Today's timeline in words (minutes per state)."""
        return timeline_summary(self.timeline)

    @property
    def input_warnings(self) -> list[str]:
        """One line per device whose input listeners died or restarted (empty when all is well)."""
        return [f"{device.name}: {device.input_warning}" for device in self.devices if device.input_warning]


def team_today(
    session: Session, now: datetime, chosen_zone: str | None = None, name_filter: str = ""
) -> list[TeamMember]:
    """One row per user: today's tally (in their display zone), agent status, last seen, backlog."""
    members = listed_users(session, name_filter)
    if not members:
        return []
    zones = user_zones(session, members, chosen_zone)
    todays = {user.id: time_manager.local_date(now, zones[user.id].name) for user in members}
    tallies: dict[tuple[int, int], Tally] = {}
    timelines: dict[int, tuple[Segment, ...]] = {}
    for zone, today in {(zones[user.id].name, todays[user.id]) for user in members}:
        user_ids = [user.id for user in members if (zones[user.id].name, todays[user.id]) == (zone, today)]
        start, end = time_manager.local_day_bounds(today, zone)
        tallies.update(zone_day_tallies(session, user_ids, (start, end)))
        states = slot_states(session, user_ids, start, end)
        for user_id in user_ids:
            timelines[user_id] = day_segments(states.get(user_id, {}), start, end, now, zone)
    newest_id = of_newest_sample(ActivitySample.id)
    newest = {
        int(row.user_id): row
        for row in session.execute(
            select(
                ActivitySample.user_id, ActivitySample.minute_start, ActivitySample.state,
                ActivitySample.received_at,
            )
            .select_from(User)
            .join(ActivitySample, ActivitySample.id == newest_id)
            .where(User.id.in_([user.id for user in members]))
        )
    }
    member_ids = [user.id for user in members]
    devices = devices_of(session, member_ids)
    result = []
    for user in members:
        latest = newest.get(user.id)
        own = devices.get(user.id, [])
        seen = [device.last_seen_at for device in own]
        if latest is not None:
            seen.append(latest.received_at)
        last_seen = max(seen) if seen else None
        offline_since = None
        if latest is None:
            status = "never"
        elif last_seen is not None and now - last_seen > OFFLINE_AFTER:
            status = "offline"
            offline_since = latest.minute_start + timedelta(minutes=1)
        else:
            status = str(latest.state)
        result.append(
            TeamMember(
                username=user.username,
                zone=zones[user.id],
                today=todays[user.id],
                tally=tallies.get((user.id, 0), Tally()),
                status=status,
                last_seen=last_seen,
                offline_since=offline_since,
                uploads_waiting=_device_sum(own, "uploads_waiting"),
                kept_aside=_device_sum(own, "kept_aside"),
                minutes_set_aside=_device_sum(own, "minutes_set_aside"),
                devices=tuple(own),
                timeline=timelines.get(user.id, ()),
            )
        )
    return result


def _device_sum(devices: Sequence[DeviceStatus], name: str) -> int | None:
    """The devices' reported ``name`` added up; None when no device reported it."""
    values = [getattr(device, name) for device in devices if getattr(device, name) is not None]
    return sum(values) if values else None


def sort_team(rows: Sequence[TeamMember], key: str) -> list[TeamMember]:
    """Rows sorted by ``name`` (A→Z) or ``tracked``/``activity``/``last_seen`` (highest/newest first)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    if key == "tracked":
        return sorted(rows, key=lambda row: (-row.tally.tracked_seconds, row.username))
    if key == "activity":
        return sorted(rows, key=lambda row: (-(row.tally.activity_percent or -1), row.username))
    if key == "last_seen":
        return sorted(rows, key=lambda row: (row.last_seen or epoch, row.username), reverse=True)
    return sorted(rows, key=lambda row: row.username)
