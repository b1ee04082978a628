"""Outgoing mail: over SMTP when ``SMTP_HOST`` is set, otherwise ``.eml`` files in the data dir's outbox."""

from __future__ import annotations

import logging
import os
import secrets
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol

from contract.errors import TransientError
from time_manager import utc_now

logger = logging.getLogger(__name__)


class Mailer(Protocol):
    """Sends one plain-text mail; called on a request thread, may block for the SMTP round trip."""

    def send(self, to_address: str, subject: str, body: str) -> None:
        """Deliver the mail or raise TransientError."""
        ...


def build_message(mail_from: str, to_address: str, subject: str, body: str) -> EmailMessage:
    """A plain-text UTF-8 message with Date and Message-ID."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = to_address
    message["Subject"] = subject
    message["Date"] = format_datetime(utc_now())
    message["Message-ID"] = make_msgid(domain=mail_from.rpartition("@")[2] or "localhost")
    message.set_content(body)
    return message


class SmtpMailer:
    """Sends through an SMTP server, with STARTTLS and login when configured."""

    def __init__(
        self,
        host: str,
        port: int,
        mail_from: str,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout_seconds: float = 15.0,
    ) -> None:
        self.host = host
        self.port = port
        self.mail_from = mail_from
        self._username = username
        self._password = password
        self.starttls = starttls
        self.timeout_seconds = timeout_seconds

    def send(self, to_address: str, subject: str, body: str) -> None:
        """Deliver over SMTP; network and protocol failures become TransientError."""
        message = build_message(self.mail_from, to_address, subject, body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as connection:
                if self.starttls:
                    connection.starttls(context=ssl.create_default_context())
                if self._username:
                    connection.login(self._username, self._password or "")
                connection.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            logger.warning(
                "mail to %s via %s:%s failed: %s", to_address, self.host, self.port, type(exc).__name__
            )
            raise TransientError(f"could not send mail via {self.host}:{self.port}") from exc
        logger.info("mail to %s sent via %s:%s", to_address, self.host, self.port)


class FileOutbox:
    """Writes each mail as an ``.eml`` file (0600) in ``directory`` (0700): the embedded default."""

    def __init__(self, directory: Path, mail_from: str) -> None:
        self.directory = directory
        self.mail_from = mail_from

    def send(self, to_address: str, subject: str, body: str) -> None:
        """Write the mail to a new file and log where it is (never its content)."""
        message = build_message(self.mail_from, to_address, subject, body)
        stamp = utc_now().strftime("%Y%m%dT%H%M%S.%fZ")
        path = self.directory / f"{stamp}-{secrets.token_hex(4)}.eml"
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(message.as_bytes())
        except OSError as exc:
            raise TransientError(f"could not write mail to {self.directory}") from exc
        logger.info("no SMTP_HOST set: mail to %s written to %s", to_address, path)

    def purge(self, older_than: datetime) -> int:
        """Delete mails written before ``older_than`` (sign-in codes are dead after minutes); how many went.

        Several server processes may purge at once: a file another one removed first is skipped.
        """
        cutoff = older_than.timestamp()
        removed = 0
        try:
            paths = list(self.directory.glob("*.eml"))
        except OSError:
            return 0
        for path in paths:
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
            except OSError as exc:
                logger.warning("could not purge %s: %s", path.name, exc)
        return removed
