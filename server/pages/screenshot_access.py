"""Who may see a screenshot, and the two answers that show one: its thumbnail and its full image.

Every page that shows screenshots (the admin diary, the person's own pages) serves them through
:func:`thumbnail_response` and :func:`image_redirect`, given a row its caller may show: the admin
pages ask :func:`viewable_screenshot` (:func:`may_view`), the person's pages their own rows. Images are
never public: the thumbnail is sent by the server itself, the full image is a redirect to a link
that expires after IMAGE_LINK_SECONDS.
"""

from __future__ import annotations

import logging

from flask import Response, abort, redirect
from werkzeug.wrappers.response import Response as BaseResponse

from auth_manager import Principal
from contract.errors import RequestRefused
from server.context import services
from server.db.models import Screenshot
from server.db.screenshot_data import find_screenshot
from server.stores.thumbnails import THUMBNAIL_CONTENT_TYPE, NotAnImage, thumbnail_bytes

logger = logging.getLogger(__name__)

IMAGE_LINK_SECONDS = 60
# Thumbnails never change (the key carries the capture's digest); a private cache may keep them a while.
THUMBNAIL_CACHE_CONTROL = "private, max-age=600"


def may_view(principal: Principal, screenshot: Screenshot) -> bool:
    """Whether ``principal`` may see ``screenshot``: administrators see every one."""
    return principal.is_admin


def viewable_screenshot(principal: Principal, screenshot_id: int) -> Screenshot:
    """The screenshot row when it exists and ``principal`` may see it; 404 otherwise (no existence leak)."""
    with services().database.session() as session:
        found = find_screenshot(session, screenshot_id)
        if found is None or not may_view(principal, found[0]):
            abort(404, description="No such screenshot")
        session.expunge(found[0])
        return found[0]


def thumbnail_response(screenshot: Screenshot) -> Response:
    """The screenshot's ~320 px JPEG thumbnail (made and stored on first request if missing)."""
    try:
        data = thumbnail_bytes(services().object_store, screenshot.key)
    except NotAnImage:
        logger.warning("screenshot %s cannot be decoded; no thumbnail", screenshot.id)
        data = None
    except Exception as exc:  # the store's network errors become a 503, not a 500
        logger.warning("thumbnail of screenshot %s: the object store failed", screenshot.id, exc_info=True)
        raise RequestRefused(
            "The screenshot store cannot be reached; try again later", status=503, code="storage_unavailable"
        ) from exc
    if data is None:
        abort(404, description="The image of this screenshot is not in the store")
    response = Response(data, mimetype=THUMBNAIL_CONTENT_TYPE)
    response.headers["Cache-Control"] = THUMBNAIL_CACHE_CONTROL
    return response


def image_redirect(screenshot: Screenshot) -> BaseResponse:
    """A redirect to a short-lived link to the full image (never a public URL)."""
    context = services()
    link = context.object_store.presign_get(
        screenshot.key, now=context.now(), expires_seconds=IMAGE_LINK_SECONDS
    )
    response = redirect(link)
    response.headers["Cache-Control"] = "private, no-store"
    return response
