"""The administrator's work diary: Team today, one user's Diary day, the Report, CSV, screenshot links.

Pages live under ``/admin`` (same signed-in session as the config pages, admins only, CSRF on
every form); the same numbers are served as JSON under ``/api/reports/`` to an admin bearer
token. Every page prints the zone its days are in. Screenshot images are never public: a
thumbnail is served by ``/admin/screenshots/<id>/thumbnail`` and a click goes through
``/admin/screenshots/<id>/image`` (server.pages.screenshot_access checks who may see them).
"""

from __future__ import annotations

import io
import logging
from datetime import date, datetime, timedelta
from typing import Any

import pytz
from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response as BaseResponse

import time_manager
from contract.errors import ConfigError, RequestRefused
from server.context import services
from server.db.screenshot_data import deletion_log, find_screenshot, record_deletion
from server.db.users import find_user, listed_users, user_or_404
from server.pages import admin as admin_pages
from server.pages.diary_day_view import LEGEND, Endpoints, build_day_view
from server.pages.screenshot_access import image_redirect, thumbnail_response, viewable_screenshot
from server.reports.chart import hours_chart
from server.reports.csv_export import write_report_csv, write_slots_csv
from server.reports.days import Report, team_report
from server.reports.diary import DiaryDay, diary_day
from server.reports.tallies import Tally, as_json
from server.reports.team import TEAM_SORT_KEYS, sort_team, team_today
from server.reports.zones import FIRST_REPORT_DAY, LAST_REPORT_DAY, check_report_day, user_zones
from server.stores.thumbnails import delete_with_thumbnail
from server.web import (
    admin_page_required,
    admin_required,
    current_principal,
    day_parameter,
    range_parameters,
    zone_parameter,
)

logger = logging.getLogger(__name__)

blueprint = Blueprint("diary", __name__)

ADMIN_ENDPOINTS = Endpoints(
    thumbnail="diary.screenshot_thumbnail", image="diary.screenshot_image", delete="diary.delete_screenshot"
)


@blueprint.before_request
def _check_csrf() -> None:
    admin_pages.check_csrf()


@blueprint.app_template_filter("duration")
def duration_filter(seconds: int) -> str:
    """Seconds as ``7:05`` (hours:minutes)."""
    minutes = int(seconds) // 60
    return f"{minutes // 60}:{minutes % 60:02d}"


@blueprint.app_template_filter("hours")
def hours_filter(hours: float) -> str:
    """23, 24, 25 (or 23.5) without a needless ``.0``."""
    return str(int(hours)) if hours == int(hours) else f"{hours:g}"


@blueprint.app_template_filter("local")
def local_filter(moment: datetime, zone: str) -> str:
    """A UTC moment as local wall-clock time with the zone abbreviation, e.g. ``2026-11-01 01:30 EST``."""
    local = time_manager.to_local(moment, zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


# --------------------------------------------------------------------------- query parameters
def _zone_names() -> list[str]:
    return sorted(name for name in pytz.common_timezones)


def _csv_response(text: str, filename: str) -> Response:
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --------------------------------------------------------------------------- Team today
@blueprint.get("/admin/team")
@admin_page_required
def team() -> BaseResponse | str:
    """One row per user: tracked time today, activity, last seen, agent status, upload backlog."""
    principal = current_principal()
    zone = zone_parameter()
    name_filter = request.args.get("q", "").strip()
    sort_key = request.args.get("sort", "name")
    if sort_key not in TEAM_SORT_KEYS:
        sort_key = "name"
    context = services()
    with context.database.session() as session:
        rows = team_today(session, context.now(), zone, name_filter)
    return render_template(
        "admin_team.html", principal=principal, rows=sort_team(rows, sort_key), zone=zone,
        name_filter=name_filter, sort_key=sort_key, now=context.now(), zone_names=_zone_names(),
        legend=LEGEND,
    )


# --------------------------------------------------------------------------- Diary
def _check_page_day(day: date | None) -> None:
    """A 400 page for a day the diary cannot show (e.g. 0001-01-01 or 9999-12-31 in the URL)."""
    if day is not None and not FIRST_REPORT_DAY <= day <= LAST_REPORT_DAY:
        abort(400, description=f"The day must be between {FIRST_REPORT_DAY} and {LAST_REPORT_DAY}")


def _diary(username: str, day: date | None, zone: str | None) -> DiaryDay:
    context = services()
    with context.database.session() as session:
        user = user_or_404(session, username)
        choice = user_zones(session, [user], zone)[user.id]
        shown_day = check_report_day(day or time_manager.local_date(context.now(), choice.name), "date")
        return diary_day(session, user, shown_day, choice)


@blueprint.get("/admin/diary/<username>")
@blueprint.get("/admin/diary/<username>/<day_text>")
@admin_page_required
def diary(username: str, day_text: str | None = None) -> BaseResponse | str:
    """One user's local day in 10-minute slots, with screenshots; previous/next day, date picker."""
    principal = current_principal()
    zone = zone_parameter()
    day: date | None
    try:
        day = date.fromisoformat(day_text) if day_text else None
    except ValueError:
        abort(404, description="The day must look like 2026-11-25")
    _check_page_day(day)
    if day is None and request.args.get("date"):
        return redirect(url_for(
            "diary.diary", username=username, day_text=request.args["date"], tz=zone or None
        ))
    result = _diary(username, day, zone)
    return render_template(
        "admin_diary.html", principal=principal, diary=result, zone=zone,
        view=build_day_view(result, services().now(), ADMIN_ENDPOINTS),
        previous_day=result.day - timedelta(days=1), next_day=result.day + timedelta(days=1),
        zone_names=_zone_names(), deletions=result.deletions,
    )


@blueprint.get("/admin/diary/<username>/<day_text>.csv")
@admin_page_required
def diary_csv(username: str, day_text: str) -> BaseResponse:
    """Per-slot rows of one user's day as CSV."""
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        abort(404, description="The day must look like 2026-11-25")
    _check_page_day(day)
    result = _diary(username, day, zone_parameter())
    buffer = io.StringIO()
    write_slots_csv([result], buffer)
    return _csv_response(buffer.getvalue(), f"vinova-slots-{username}-{day}.csv")


@blueprint.get("/admin/slots.csv")
@admin_page_required
def slots_csv() -> BaseResponse:
    """Per-slot rows of one user over a range of days (``username``, ``from``, ``to``, ``tz``) as CSV."""
    zone = zone_parameter()
    first_day, last_day = range_parameters(zone)
    username = request.args.get("username", "")
    context = services()
    with context.database.session() as session:
        user = user_or_404(session, username)
        choice = user_zones(session, [user], zone)[user.id]
        days = [
            diary_day(session, user, first_day + timedelta(days=n), choice)
            for n in range((last_day - first_day).days + 1)
        ]
    buffer = io.StringIO()
    write_slots_csv(days, buffer)
    return _csv_response(buffer.getvalue(), f"vinova-slots-{username}-{first_day}-{last_day}.csv")


# --------------------------------------------------------------------------- Report
def _report(zone: str | None) -> Report:
    first_day, last_day = range_parameters(zone)
    name_filter = request.args.get("q", "").strip()
    with services().database.session() as session:
        users = listed_users(session, name_filter)
        return team_report(session, first_day, last_day, zone, users)


@blueprint.get("/admin/report")
@admin_page_required
def report() -> BaseResponse | str:
    """Hours and average activity per user per local day for a range (default this week), with totals."""
    principal = current_principal()
    zone = zone_parameter()
    result = _report(zone)
    return render_template(
        "admin_report.html", principal=principal, report=result, zone=zone, zone_names=_zone_names(),
        chart=hours_chart(result),
        name_filter=request.args.get("q", "").strip(),
    )


@blueprint.get("/admin/report.csv")
@admin_page_required
def report_csv() -> BaseResponse:
    """The report table as CSV (one row per user-day with data; the zone on the first line)."""
    result = _report(zone_parameter())
    buffer = io.StringIO()
    write_report_csv(result, buffer)
    return _csv_response(buffer.getvalue(), f"vinova-report-{result.first_day}-{result.last_day}.csv")


# --------------------------------------------------------------------------- screenshots
@blueprint.get("/admin/screenshots/<int:screenshot_id>/image")
@admin_page_required
def screenshot_image(screenshot_id: int) -> BaseResponse:
    """Redirect to a short-lived link to the image (never a public URL)."""
    return image_redirect(viewable_screenshot(current_principal(), screenshot_id))


@blueprint.get("/admin/screenshots/<int:screenshot_id>/thumbnail")
@admin_page_required
def screenshot_thumbnail(screenshot_id: int) -> Response:
    """The screenshot's ~320 px JPEG thumbnail, made on its first request, then kept."""
    return thumbnail_response(viewable_screenshot(current_principal(), screenshot_id))


@blueprint.post("/admin/screenshots/<int:screenshot_id>/delete")
@admin_page_required
def delete_screenshot(screenshot_id: int) -> BaseResponse:
    """Delete the image object and its record; write the audit entry; back to the diary day."""
    principal = current_principal()
    context = services()
    with context.database.session() as session:
        found = find_screenshot(session, screenshot_id)
        if found is None:
            abort(404, description="No such screenshot")
        screenshot, username = found
        key = screenshot.key
        delete_with_thumbnail(context.object_store, key)
        record_deletion(session, screenshot, username, principal.username, context.now())
    logger.info("screenshot %s of %s deleted by %s", key, username, principal.username)
    flash("Screenshot deleted (object and record); the deletion is in the audit log.")
    back = request.form.get("next", "")
    if not back.startswith("/admin/"):
        back = url_for("diary.team")
    return redirect(back)


@blueprint.get("/admin/deletions")
@admin_page_required
def deletions() -> BaseResponse | str:
    """The audit log of deleted screenshots, newest first."""
    principal = current_principal()
    with services().database.session() as session:
        entries = deletion_log(session)
    return render_template("admin_deletions.html", principal=principal, entries=entries)


# --------------------------------------------------------------------------- JSON for admin tokens
def _tally_json(tally: Tally) -> dict[str, Any]:
    return dict(as_json(tally))


@blueprint.get("/api/reports/team")
@admin_required
def api_team() -> Response:
    """Team today as JSON (admin bearer)."""
    zone = zone_parameter()
    context = services()
    with context.database.session() as session:
        rows = team_today(session, context.now(), zone, request.args.get("q", "").strip())
    return jsonify({"users": [
        {"username": row.username, "zone": row.zone.name, "zone_source": row.zone.source,
         "today": row.today.isoformat(), **_tally_json(row.tally), "status": row.status,
         "last_seen": row.last_seen.isoformat() if row.last_seen else None,
         "offline_since": row.offline_since.isoformat() if row.offline_since else None,
         "uploads_waiting": row.uploads_waiting, "kept_aside": row.kept_aside,
         "minutes_set_aside": row.minutes_set_aside, "input_warnings": row.input_warnings,
         "devices": [device.as_json() for device in row.devices]}
        for row in rows
    ]})


@blueprint.get("/api/reports/days")
@admin_required
def api_days() -> Response:
    """Per-user-per-day tallies for ``from``..``to`` (default this week) as JSON (admin bearer)."""
    result = _report(zone_parameter())
    return jsonify({
        "from": result.first_day.isoformat(), "to": result.last_day.isoformat(), "zone": result.zone_caption,
        "users": [
            {"username": user.username, "zone": user.zone.name,
             "days": {day.isoformat(): _tally_json(tally) for day, tally in sorted(user.days.items())},
             "total": _tally_json(user.total)}
            for user in result.users
        ],
    })


@blueprint.get("/api/reports/diary")
@admin_required
def api_diary() -> Response:
    """One user's diary day (``username``, ``date``, ``tz``) as JSON slots (admin bearer)."""
    username = request.args.get("username", "")
    if not username:
        raise ConfigError({"username": "is required"})
    zone = zone_parameter()
    day = day_parameter()
    with services().database.session() as session:
        if find_user(session, username) is None:
            raise RequestRefused(f"user {username!r} not found", status=404, code="not_found")
    result = _diary(username, day, zone)
    return jsonify({
        "username": result.username, "date": result.day.isoformat(), "zone": result.zone.name,
        "zone_source": result.zone.source, "from": result.start.isoformat(), "to": result.end.isoformat(),
        "hours_in_day": result.hours_in_day, "total": _tally_json(result.totals),
        "devices": [device.as_json() for device in result.devices],
        "slots": [
            {"start": slot.start.isoformat(), "local_start": slot.local_start.isoformat(),
             **_tally_json(slot.tally), "screenshots": [shot.id for shot in slot.screenshots]}
            for slot in result.slots
        ],
    })
