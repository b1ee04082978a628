"""What ``make run`` starts: the server on embedded defaults (SQLite and the mail outbox in ./data).

On the first start (no accounts yet) it creates an admin account and prints its name and a
generated password once. Sign-in codes then arrive as .eml files in ``data/outbox/`` until
SMTP_HOST is set.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from flask import Flask  # noqa: E402

from app import configure_logging, create_app, services_of  # noqa: E402 - needs the path above
from errors import ConfigError  # noqa: E402

logger = logging.getLogger("vinova.run")

FIRST_ADMIN_NAME = "admin"
FIRST_ADMIN_EMAIL_VARIABLE = "VINOVA_ADMIN_EMAIL"


def ensure_first_admin(app: Flask) -> tuple[str, str] | None:
    """Create the first admin when there is no account at all; return (name, password) or None."""
    context = services_of(app)
    if context.auth.user_count() > 0:
        return None
    password = secrets.token_urlsafe(15)
    email = context.settings.get(FIRST_ADMIN_EMAIL_VARIABLE)
    context.auth.create_user(FIRST_ADMIN_NAME, email, password, admin=True)
    return FIRST_ADMIN_NAME, password


def main(argv: list[str] | None = None) -> None:
    """Start the server; print the first admin's credentials once."""
    parser = argparse.ArgumentParser(description="Run the Vinova server on embedded defaults")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    arguments = parser.parse_args(argv)
    configure_logging()
    try:
        app = create_app()
    except ConfigError as exc:
        raise SystemExit(f"invalid settings: {exc}") from exc
    context = services_of(app)
    created = ensure_first_admin(app)
    if created is not None:
        name, password = created
        print("=" * 72)
        print("First start: created the admin account (the password is shown only now).")
        print(f"  username: {name}")
        print(f"  password: {password}")
        print(f"  sign in at http://{arguments.host}:{arguments.port}/admin/")
        if context.settings.smtp.host is None:
            print(f"  sign-in codes are written as .eml files to {context.settings.outbox_dir}")
        print("=" * 72, flush=True)
    import waitress

    logger.info("serving on http://%s:%s", arguments.host, arguments.port)
    waitress.serve(app, host=arguments.host, port=arguments.port, threads=8)


if __name__ == "__main__":
    main()
