"""Screenshot thumbnails: a ~320 px wide JPEG kept next to the original, in the same store.

A thumbnail is made on its first request (:func:`thumbnail_bytes`) and stored; later requests read
the stored one. Not at registration: most captures are never looked at, and decoding a 1080p capture
cost ~10 ms of CPU on every ``POST /screenshots`` (issue 14's load), more than the rest of the request.
A 1920x1080 capture gives a 320x180 thumbnail of about 5-10 KB, so a diary day of 100 captures
weighs well under 1 MB of images instead of tens of MB.
"""

from __future__ import annotations

import io
import logging

from PIL import Image, UnidentifiedImageError

from server.stores.objectstore import ObjectStore

logger = logging.getLogger(__name__)

THUMBNAIL_SUFFIX = ".thumb.jpg"
THUMBNAIL_WIDTH_PX = 320
THUMBNAIL_QUALITY = 60
THUMBNAIL_CONTENT_TYPE = "image/jpeg"
# A capture bigger than this (pixels) is not decoded (a decompression bomb, not a screen).
MAX_SOURCE_PIXELS = 16384 * 16384


class NotAnImage(ValueError):
    """The stored object cannot be decoded as an image."""


def thumbnail_key(key: str) -> str:
    """The object key of the thumbnail of the screenshot stored at ``key`` (``….jpg`` → ``….thumb.jpg``)."""
    stem = key[: -len(".jpg")] if key.endswith(".jpg") else key
    return stem + THUMBNAIL_SUFFIX


def make_thumbnail(jpeg: bytes, width_px: int = THUMBNAIL_WIDTH_PX) -> bytes:
    """A JPEG ``width_px`` wide (never wider than the original), aspect kept; NotAnImage if undecodable."""
    try:
        with Image.open(io.BytesIO(jpeg)) as image:
            if image.width * image.height > MAX_SOURCE_PIXELS:
                raise NotAnImage(f"{image.width}x{image.height} is too large to be a screenshot")
            target_width = min(width_px, image.width)
            target_height = max(1, round(image.height * target_width / image.width))
            # JPEG draft mode decodes at 1/2, 1/4 or 1/8 scale straight away (a 1080p capture in ~5 ms).
            image.draft("RGB", (target_width, target_height))
            small = image.convert("RGB").resize((target_width, target_height), Image.Resampling.LANCZOS)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise NotAnImage(str(exc)) from exc
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True, progressive=True)
    return buffer.getvalue()


def thumbnail_bytes(store: ObjectStore, key: str) -> bytes | None:
    """The stored thumbnail of ``key``, made and stored now if missing; None when the original is absent.

    NotAnImage when the original cannot be decoded. A thumbnail that cannot be stored (a full disk, a
    bucket gone read-only) is still returned; the next request tries to store it again.
    """
    stored = store.read_bytes(thumbnail_key(key))
    if stored is not None:
        return stored
    original = store.read_bytes(key)
    if original is None:
        return None
    thumbnail = make_thumbnail(original)
    try:
        store.write_bytes(thumbnail_key(key), thumbnail, content_type=THUMBNAIL_CONTENT_TYPE)
    except Exception:  # the store's own errors (OSError, botocore's): the viewer still gets the image
        logger.warning("thumbnail of %s made but not stored; made again on the next request", key,
                       exc_info=True)
    return thumbnail


def delete_with_thumbnail(store: ObjectStore, key: str) -> None:
    """Remove a screenshot's object and its thumbnail (either absent is fine)."""
    store.delete(key)
    store.delete(thumbnail_key(key))
