"""Files only their owner may read, written so that a crash leaves the old file or the new one, never half.

Used for the agent's token, config cache, spooled captures and the server's local screenshots.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextmanager
def replacing(target: Path) -> Iterator[BinaryIO]:
    """Write ``target`` through a 0600 temp file in its folder: fsync, rename, fsync the folder.

    If the block raises, the temp file is removed and ``target`` is untouched.
    """
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def write_private_file(target: Path, data: bytes | str) -> None:
    """Replace ``target`` with ``data`` (text is UTF-8) atomically, mode 0600."""
    with replacing(target) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
