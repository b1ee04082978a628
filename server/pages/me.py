"""``/me``: every signed-in person's own record — diary, screenshots, report (+ CSV), devices, export.

Same sign-in and session as ``/admin`` (a non-admin lands here after sign-in); CSRF on every form.
Each page reads only the signed-in person's rows (server/my_record.py): there is no username in
any ``/me`` URL, and a screenshot id that is not the person's answers 404. Images go through
``/me/screenshots/<id>/thumbnail`` and ``/image`` (a redirect to a link that expires in a minute).
An admin's export of any person is here too (``/admin/users/<username>/export``), built the same way.
"""

from __future__ import annotations

import io
import logging
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, send_file, url_for
from werkzeug.wrappers.response import Response as BaseResponse

from auth_manager import Principal
from contract.errors import RequestRefused
from server import my_record
from server.context import services
from server.db import retention_runs, screenshot_data
from server.db.models import Screenshot
from server.db.users import user_or_404
from server.export import build_export, export_file_name
from server.pages import admin as admin_pages
from server.pages.diary_day_view import Endpoints, build_day_view
from server.pages.screenshot_access import image_redirect, thumbnail_response
from server.reports.csv_export import write_report_csv
from server.reports.diary import deletion_text
from server.web import (
    admin_page_required,
    current_principal,
    day_parameter,
    page_login_required,
    range_parameters,
    zone_parameter,
)

logger = logging.getLogger(__name__)

blueprint = Blueprint("me", __name__)

VIEW_ONLY = Endpoints(thumbnail="me.screenshot_thumbnail", image="me.screenshot_image")


@blueprint.before_request
def _check_csrf() -> None:
    admin_pages.check_csrf()


@blueprint.app_context_processor
def _retention_globals() -> dict[str, Any]:
    return {"retention_in_force": retention_in_force}


def retention_in_force() -> dict[str, Any]:
    """The retention settings and the newest purge run, for the admin and /me pages."""
    context = services()
    settings = context.settings
    with context.database.session() as session:
        last = retention_runs.last_run(session)
        if last is not None:
            session.expunge(last)
    policy = my_record.Policy(0, 0, settings.screenshot_retention_days, settings.activity_retention_days)
    return {"text": policy.retention_text, "screenshot_days": settings.screenshot_retention_days,
            "activity_days": settings.activity_retention_days, "last_run": last}


def _page(template: str, principal: Principal, **values: Any) -> str:
    context = services()
    with context.database.session() as session:
        policy = my_record.policy_for(session, context, principal.user_id)
    return render_template(template, principal=principal, policy=policy, **values)


def _own_screenshot(principal: Principal, screenshot_id: int) -> Screenshot:
    """The person's screenshot row, or 404 (a colleague's id looks exactly like a missing one)."""
    with services().database.session() as session:
        found = screenshot_data.find_screenshot(session, screenshot_id)
        if found is None or found[0].user_id != principal.user_id:
            abort(404, description=my_record.NOT_FOUND_MESSAGE)
        session.expunge(found[0])
        return found[0]


# --------------------------------------------------------------------------- diary
@blueprint.get("/me")
@blueprint.get("/me/diary/<day_text>")
@page_login_required
def diary(day_text: str | None = None) -> BaseResponse | str:
    """My local day in 10-minute slots with my screenshots; previous/next day."""
    principal = current_principal()
    zone = zone_parameter()
    day: date | None = None
    if day_text is not None:
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            abort(404, description="the day must look like 2026-11-25")
    elif request.args.get("date"):
        return redirect(url_for("me.diary", day_text=request.args["date"], tz=zone or None))
    context = services()
    with context.database.session() as session:
        result = my_record.own_diary(session, context, principal, day, zone)
        policy = my_record.policy_for(session, context, principal.user_id)
    # Deleting is on "My screenshots", where each capture shows whether its window is still open.
    endpoints = VIEW_ONLY
    return render_template(
        "me_diary.html", principal=principal, policy=policy, diary=result, zone=zone,
        view=build_day_view(result, context.now(), endpoints),
        deletions=[(entry, deletion_text(entry)) for entry in result.deletions],
        previous_day=result.day - timedelta(days=1), next_day=result.day + timedelta(days=1),
    )


# --------------------------------------------------------------------------- screenshots
@blueprint.get("/me/screenshots")
@page_login_required
def screenshots() -> BaseResponse | str:
    """My screenshots of one day, each with its delete button while the delete window allows."""
    principal = current_principal()
    context = services()
    now = context.now()
    with context.database.session() as session:
        day, zone, rows = my_record.own_screenshots(
            session, principal, day_parameter(), zone_parameter(), now
        )
        policy = my_record.policy_for(session, context, principal.user_id)
        start, end = my_record.day_bounds(day, zone)
        entries = screenshot_data.deletions_between(session, principal.username, start, end)
    items = [
        {"row": row, "deletable": policy.may_delete(row.taken_at, now),
         "until": policy.deletable_until(row.taken_at)}
        for row in rows
    ]
    return render_template(
        "me_screenshots.html", principal=principal, policy=policy, day=day, zone=zone, items=items,
        deletions=[(entry, deletion_text(entry)) for entry in entries],
        previous_day=day - timedelta(days=1), next_day=day + timedelta(days=1),
    )


@blueprint.get("/me/screenshots/<int:screenshot_id>/thumbnail")
@page_login_required
def screenshot_thumbnail(screenshot_id: int) -> Response:
    """The thumbnail of one of my screenshots (made on first request if missing)."""
    return thumbnail_response(_own_screenshot(current_principal(), screenshot_id))


@blueprint.get("/me/screenshots/<int:screenshot_id>/image")
@page_login_required
def screenshot_image(screenshot_id: int) -> BaseResponse:
    """A redirect to a short-lived link to one of my screenshots."""
    return image_redirect(_own_screenshot(current_principal(), screenshot_id))


@blueprint.post("/me/screenshots/<int:screenshot_id>/delete")
@page_login_required
def delete_screenshot(screenshot_id: int) -> BaseResponse | tuple[str, int]:
    """Delete one of my screenshots within the delete window; back to the page it was on."""
    principal = current_principal()
    back = request.form.get("next", "")
    if not back.startswith("/me"):
        back = url_for("me.screenshots")
    try:
        my_record.delete_own_screenshot(services(), principal, screenshot_id)
    except RequestRefused as refused:
        if refused.status == 404:
            raise
        flash(f"Not deleted: {refused}")
        return redirect(back)
    flash("Screenshot deleted: the image is gone from the server; the deletion is logged.")
    return redirect(back)


# --------------------------------------------------------------------------- report, devices
@blueprint.get("/me/report")
@page_login_required
def report() -> BaseResponse | str:
    """My hours and activity per day over a range (default this week)."""
    principal = current_principal()
    zone = zone_parameter()
    first_day, last_day = range_parameters(zone)
    with services().database.session() as session:
        result = my_record.own_report(session, principal, first_day, last_day, zone)
    return _page("me_report.html", principal, report=result, row=result.users[0], zone=zone)


@blueprint.get("/me/report.csv")
@page_login_required
def report_csv() -> BaseResponse:
    """My report as CSV (one row per day with data)."""
    principal = current_principal()
    zone = zone_parameter()
    first_day, last_day = range_parameters(zone)
    with services().database.session() as session:
        result = my_record.own_report(session, principal, first_day, last_day, zone)
    buffer = io.StringIO()
    write_report_csv(result, buffer)
    response = Response(buffer.getvalue(), mimetype="text/csv")
    file_name = f"vinova-report-{principal.username}-{first_day}-{last_day}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{file_name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blueprint.get("/me/devices")
@page_login_required
def devices() -> BaseResponse | str:
    """The computers my minutes came from, with their last report."""
    principal = current_principal()
    with services().database.session() as session:
        listed = my_record.own_devices(session, principal)
    return _page("me_devices.html", principal, devices=listed)


# --------------------------------------------------------------------------- export
def _export_response(username: str) -> Response:
    context = services()
    with context.database.session() as session:
        user = user_or_404(session, username)
        stream = build_export(session, user, context.object_store)
    response = send_file(
        stream, mimetype="application/zip", as_attachment=True,
        download_name=export_file_name(username, context.now()), max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blueprint.get("/me/export")
@page_login_required
def export() -> Response:
    """A zip of everything the server holds about me."""
    principal = current_principal()
    logger.info("%s exported their own record", principal.username)
    return _export_response(principal.username)


@blueprint.get("/admin/users/<username>/export")
@admin_page_required
def admin_export(username: str) -> Response:
    """An administrator's export of one person (the same zip the person gets)."""
    logger.info("%s exported the record of %s", current_principal().username, username)
    return _export_response(username)
