"""The agent's saved sign-in: one JSON file in the agent data dir, readable by its owner only."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from contract.private_files import write_private_file

log = logging.getLogger(__name__)

SESSION_FILE = "session.json"


@dataclass(frozen=True, slots=True)
class SavedSession:
    """A bearer token for one user on one server."""

    server_url: str
    username: str
    token: str
    expires_at: str


def load_session(agent_dir: Path, server_url: str) -> SavedSession | None:
    """The saved session for ``server_url``, or None (none saved, another server, or unreadable)."""
    path = agent_dir / SESSION_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        session = SavedSession(**{key: str(data[key]) for key in SavedSession.__slots__})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring an unreadable saved session in %s (%s)", path, type(exc).__name__)
        return None
    if session.server_url.rstrip("/") != server_url.rstrip("/"):
        return None
    return session


def save_session(agent_dir: Path, session: SavedSession) -> None:
    """Keep the session for the next start (file 0600 in a 0700 dir)."""
    write_private_file(agent_dir / SESSION_FILE, json.dumps(asdict(session), indent=2))


def clear_session(agent_dir: Path) -> None:
    """Forget the saved session (sign-out, or the server refused it)."""
    (agent_dir / SESSION_FILE).unlink(missing_ok=True)
