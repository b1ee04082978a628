"""Settings layering for both programs: defaults < ``.env`` files < environment < explicit overrides.

The agent's overrides are its command-line flags, the server's ``create_app(overrides)``. Values
stay strings here; each side parses and checks its own into a frozen dataclass. Loading only
reads: it never creates or writes a file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from dotenv import dotenv_values


def read_dotenv(path: Path) -> dict[str, str]:
    """The variables of one ``.env`` file ({} when it does not exist); a bare ``NAME`` reads as ""."""
    if not path.is_file():
        return {}
    return {key: value or "" for key, value in dotenv_values(path).items()}


def layered_values(
    defaults: Mapping[str, str],
    dotenv_paths: Iterable[Path],
    environ: Mapping[str, str],
    overrides: Mapping[str, str | None],
) -> dict[str, str]:
    """Merge the layers, later ones winning; a None override means "unset" and reads as ""."""
    values = dict(defaults)
    for path in dotenv_paths:
        values.update(read_dotenv(path))
    values.update(environ)
    values.update({key: "" if value is None else value for key, value in overrides.items()})
    return values
