"""Schedule-driven screen capture, blur, JPEG encode and hand-off to the upload queue."""

from __future__ import annotations
