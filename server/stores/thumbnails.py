"""Where a screenshot's thumbnail lives: next to the original, in the same store."""

from __future__ import annotations

THUMBNAIL_SUFFIX = ".thumb.jpg"


def thumbnail_key(key: str) -> str:
    """The object key of the thumbnail of the screenshot stored at ``key`` (``….jpg`` → ``….thumb.jpg``)."""
    stem = key[: -len(".jpg")] if key.endswith(".jpg") else key
    return stem + THUMBNAIL_SUFFIX
