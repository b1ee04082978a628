"""The server's files are owner-only: the data folder, its outbox and screenshots (0700), vinova.db (0600).

Created so on the first start and tightened on every start when an older release (or a umask)
left them readable by others (issue 10 item 14). Only the folders are changed, not every file
beneath them: with the folder at 0700 nothing inside is reachable by another account.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

from server.settings import ServerSettings

logger = logging.getLogger(__name__)

FOLDER_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def _tighten(path: Path, mode: int) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & ~mode:
        os.chmod(path, current & mode)
        logger.info("tightened %s from %o to %o (owner only)", path, current, current & mode)


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def secure_data_folders(settings: ServerSettings) -> None:
    """Create the data folder owner-only, tighten it and its outbox/screenshots, and make vinova.db 0600."""
    settings.data_dir.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    for folder in (settings.data_dir, settings.outbox_dir, settings.data_dir / "screenshots"):
        _tighten(folder, FOLDER_MODE)
    database_file = sqlite_path(settings.database_url)
    if database_file is None:
        return
    database_file.parent.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    if not database_file.exists():
        # Made empty with 0600 before SQLite opens it (SQLite gives its journals the file's mode).
        os.close(os.open(database_file, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for path in (database_file, *(Path(f"{database_file}{suffix}") for suffix in SQLITE_COMPANIONS)):
        _tighten(path, FILE_MODE)
