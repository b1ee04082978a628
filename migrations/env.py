"""Alembic environment: runs on the connection the server hands over (``database.Database.migrate``).

Run by hand with ``alembic -c migrations/alembic.ini upgrade head`` and ``VINOVA_DATABASE_URL`` set.
Revisions are written by hand, each carrying the table definitions it needs, so nothing here
loads the live models (``server.db.models``); a test compares the models with the migrated schema.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine


def run_migrations() -> None:
    """Upgrade on the given connection, or on VINOVA_DATABASE_URL when run from the command line."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get("VINOVA_DATABASE_URL")
    if not url:
        raise RuntimeError("set VINOVA_DATABASE_URL to run migrations by hand")
    engine = create_engine(url)
    with engine.begin() as own_connection:
        _run_on(own_connection)
    engine.dispose()


def _run_on(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=None,
        render_as_batch=True,  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
