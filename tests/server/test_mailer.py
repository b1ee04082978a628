"""Mail delivery: a real SMTP server (aiosmtpd) and the .eml file outbox."""

from __future__ import annotations

import logging
import stat
from email import message_from_bytes
from pathlib import Path

import pytest
from conftest import SmtpCapture
from support import free_port

from contract.errors import TransientError
from server.mailer import FileOutbox, SmtpMailer


def test_smtp_mailer_delivers_a_plain_text_message(smtp_server: SmtpCapture) -> None:
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, "vinova@example.com", starttls=False)
    mailer.send("ann@example.com", "Your code", "Your code is: 123456\n")
    message = smtp_server.wait_for_message("ann@example.com")
    assert message["From"] == "vinova@example.com" and message["Subject"] == "Your code"
    assert message["Message-ID"] and message["Date"]
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes) and b"123456" in payload


def test_an_unreachable_smtp_server_is_a_transient_error() -> None:
    mailer = SmtpMailer("127.0.0.1", free_port(), "vinova@example.com", starttls=False, timeout_seconds=2)
    with pytest.raises(TransientError):
        mailer.send("ann@example.com", "x", "y")


def test_the_outbox_writes_private_eml_files_and_logs_where_not_what(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = tmp_path / "data" / "outbox"
    with caplog.at_level(logging.INFO):
        outbox_mailer = FileOutbox(outbox, "vinova@example.com")
        outbox_mailer.send("ann@example.com", "Your code", "Your code is: 654321\n")
    (path,) = outbox.glob("*.eml")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o700
    message = message_from_bytes(path.read_bytes())
    assert message["To"] == "ann@example.com"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert str(path) in logged and "654321" not in logged
