"""Reading the people mails in tests: every text mailed to an address, and the link of one page in it.

Works on the ``smtp_server`` capture (conftest.SmtpCapture) and on a file outbox (a data dir's ``outbox/``).
"""

from __future__ import annotations

import re
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from support import wait_until

_URL = re.compile(r"https?://[^\s/]+(?P<path>/[A-Za-z-]+/[A-Za-z0-9_-]{20,})")


def _text(message: Message) -> str:
    payload = message.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return payload.decode(message.get_content_charset() or "utf-8").replace("\r\n", "\n")


def mails_to(source: Any, address: str) -> list[tuple[str, str]]:
    """(subject, text) of every mail to ``address``, oldest first; ``source`` is an SmtpCapture or a Path."""
    if isinstance(source, Path):
        directory = source / "outbox" if (source / "outbox").is_dir() else source
        files = sorted(directory.glob("*.eml"), key=lambda item: (item.stat().st_mtime_ns, item.name))
        messages = [message_from_bytes(item.read_bytes()) for item in files]
        messages = [m for m in messages if address.lower() in str(m.get("To", "")).lower()]
    else:
        messages = source.messages_to(address)
    return [(str(m.get("Subject", "")), _text(m)) for m in messages]


def link_in(text: str, page: str) -> str:
    """The full URL of the first ``/<page>/<token>`` link in ``text``."""
    for match in _URL.finditer(text):
        if match.group("path").startswith(f"/{page}/"):
            return match.group(0)
    raise AssertionError(f"no /{page}/ link in: {text!r}")


def path_of(url: str) -> str:
    """``/page/token`` of a mailed link (for a Flask test client)."""
    match = _URL.fullmatch(url)
    if match is None:
        raise AssertionError(f"not a mailed link: {url!r}")
    return match.group("path")


def wait_for_link(source: Any, address: str, page: str, count: int = 1, timeout: float = 10.0) -> str:
    """Wait until ``count`` mails with a ``/<page>/`` link reached ``address``; the newest link."""
    def found() -> list[str]:
        urls = []
        for _subject, text in mails_to(source, address):
            try:
                urls.append(link_in(text, page))
            except AssertionError:
                continue
        return urls if len(urls) >= count else []

    return wait_until(found, timeout, message=f"{count} /{page}/ mail(s) to {address}")[-1]
