"""The log pane's plain words: what a person reads instead of object keys, routes and exception names.

Any thread (the log handler calls it where a record is logged). :func:`plain_text` turns a log
record into the pane's sentence, or None for a line that only matters in the log file (the file
keeps every record word for word; the pane shows the original on hover). A record this table does
not know is shown with the developer words taken out (:func:`scrub`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from agent.window.formatting import config_change_text, count_text, format_interval, wait_text

Phrase = Callable[[tuple[Any, ...]], str | None]

OBJECT_KEY = re.compile(r"\b[\w.@-]+/[\w./@-]+\.(?:jpe?g|png|json)\b")
ROUTE = re.compile(r"\b(?:GET|POST|PUT|DELETE|HEAD) /[\w/.-]*:?\s*")
CALL_PREFIX = re.compile(
    r"\b(?:activity upload|config poll|upload signing|screenshot registration|session check|sign-in): ")
ERROR_CLASS = re.compile(r"\s*\((?:[A-Z]\w*(?:Error|Exception|Timeout|Refused))\)")
HTTP_STATUS = re.compile(r"HTTP (\d{3})(?: \(?[\w_]+\)?)?(?:: .*)?")

JOB_NAMES: dict[str, str] = {
    "activity": "Sending activity",
    "config": "Checking for new settings",
    "battery": "Reading the battery",
    "screen lock": "Checking the screen lock",
    "input watchdog": "Checking the input listeners",
    "capture": "Taking a screenshot",
    "screenshot": "Taking a screenshot",
    "reachability": "Checking the server",
    "wake": "Checking for a sleep",
}


def _say(text: str) -> Phrase:
    return lambda _args: text


def _hide(_args: tuple[Any, ...]) -> None:
    return None


def _detail(value: Any) -> str:
    return scrub(str(value), capital=False)


def _minutes(count: Any) -> str:
    return count_text(int(count), "minute")


PHRASES: dict[str, Phrase] = {
    # The presenter writes its own line for each capture ("Screenshot taken (blurred), uploaded").
    "screenshot taken: %s (%dx%d, %d KB%s)": _hide,
    "screenshot setting %s: %s -> %s": _hide,  # "config changed" says it once
    "idle threshold is now %s s": _hide,
    "battery threshold %s%% -> %s%%": _hide,
    "capture %s is already spooled; not adding it twice": _hide,
    "the server already holds %s; nothing to upload": _hide,
    "the store refused a signed URL (%s %s); signing it again": _hide,
    "uploads: through URLs signed by %s (no AWS keys on this machine)": _hide,
    "agent started for %s": lambda args: f"Tracking started for {args[0]}",
    "agent stopped": _say("Tracking stopped"),
    "tracking paused by the user": _say("Paused: nothing is recorded until you press Resume"),
    "tracking resumed by the user": _say("Resumed: tracking"),
    "signed in as %s": lambda args: f"Signed in as {args[0]}",
    "signed in as %s (saved session)": lambda args: f"Signed in as {args[0]}",
    "signed out": _say("Signed out"),
    "closing the window: stopping the agent": _say("Closing Vinova"),
    "this computer is device %r (id %s)": lambda args: f"This computer is called “{args[0]}” at the server",
    "screenshots every %d s": lambda args: f"Screenshots every {format_interval(int(args[0]))}",
    "screenshots at a random moment in every %d s window":
        lambda args: f"Screenshots at a random moment in every {format_interval(int(args[0]))}",
    "screenshot skipped: %s": lambda args: f"Screenshot skipped: {_detail(args[0])}",
    "config changed: %s": lambda args: f"New settings from the server: {config_change_text(str(args[0]))}",
    "upload worker started (%s, %d threads); %d capture(s) waiting in the spool":
        lambda args: f"{count_text(int(args[2]), 'screenshot')} waiting to upload" if args[2] else None,
    "uploads are flowing again": _say("Uploads go through again"),
    "capture %s kept aside: %s": lambda args: f"A screenshot could not be uploaded and is kept aside: "
                                              f"{_detail(args[1])}",
    "capture %s lost its spool file; kept aside": _say("A screenshot's file is missing; kept aside"),
    "capture %s is corrupt on disk; kept aside": _say("A screenshot's file is damaged; kept aside"),
    "retrying %d kept-aside capture(s)":
        lambda args: f"Trying {count_text(int(args[0]), 'kept-aside screenshot')} again",
    "offline: %s; %d minutes wait, retrying in %.0f s":
        lambda args: f"Offline: {_detail(args[0])}. {_minutes(args[1])} of activity wait; "
                     f"trying again in {wait_text(round(float(args[2])))}",
    "back online: activity delivered": _say("Back online: activity delivered"),
    "the server answers again: sending what waits": _say("The server answers again"),
    "disk has space again: %d minutes kept in memory are saved":
        lambda args: f"The disk has space again: {_minutes(args[0])} kept in memory are saved",
    "%s: %d minutes kept in memory until there is space":
        lambda args: f"{str(args[0]).capitalize()}: {_minutes(args[1])} kept in memory until there is space",
    "the server refused %d activity minutes (kept, retry in %.0f s): %s":
        lambda args: f"The server refused {_minutes(args[0])} of activity (kept; trying again in "
                     f"{wait_text(round(float(args[1])))}): {_detail(args[2])}",
    "the %s job failed: %s": lambda args: f"{JOB_NAMES.get(str(args[0]), f'The {args[0]} job')} failed: "
                                          f"{_detail(args[1])}",
    "first config poll failed: %s": lambda args: f"Could not fetch the settings yet: {_detail(args[0])}",
    "cannot reach the server (%s): starting offline with the saved session":
        _say("Cannot reach the server: tracking offline with the saved session"),
    "window hidden to the tray; tracking continues": _say("Window hidden to the tray; tracking continues"),
    "window minimised (no system tray); tracking continues":
        _say("Window minimised (this desktop has no tray); tracking continues"),
}


def plain_text(record: logging.LogRecord) -> str | None:
    """The pane's words for ``record``, or None when the line belongs in the log file only."""
    phrase = PHRASES.get(str(record.msg))
    args = record.args if isinstance(record.args, tuple) else ()
    if phrase is not None:
        try:
            return phrase(args)
        except (IndexError, TypeError, ValueError):
            pass  # arguments of another shape: say the message as it is, cleaned
    try:
        return scrub(record.getMessage())
    except (TypeError, ValueError):  # arguments that do not fit the message: say it as written
        return scrub(str(record.msg))


def _http_words(match: re.Match[str]) -> str:
    status = int(match.group(1))
    if status >= 500:
        return "the server had a problem"
    if status == 429:
        return "the server asked us to slow down"
    if status in (401, 403):
        return "the server refused this session"
    return "the server refused the request"


def scrub(text: str, *, capital: bool = True) -> str:
    """Developer words out: object keys, HTTP routes, call names and exception class names."""
    cleaned = OBJECT_KEY.sub("a screenshot", text)
    cleaned = ROUTE.sub("", cleaned)
    cleaned = CALL_PREFIX.sub("", cleaned)
    cleaned = ERROR_CLASS.sub("", cleaned)
    cleaned = HTTP_STATUS.sub(_http_words, cleaned)
    cleaned = re.sub(r"\s{2,}", " ", cleaned).strip()
    if not cleaned:
        return text
    return cleaned[:1].upper() + cleaned[1:] if capital else cleaned
