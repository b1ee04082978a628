"""Screenshots on wlroots compositors (sway, Hyprland, river …): one image per output through grim.

grim speaks ``wlr-screencopy``, the protocol these compositors offer for screen capture; it is a
small, widely packaged program, so the agent runs it rather than reimplementing shared-memory
buffers. GNOME and KDE do not offer wlr-screencopy: there the desktop portal is the way (issue 15).
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
from collections.abc import Mapping

from PIL import Image, UnidentifiedImageError

from agent.adapters.monitors import MonitorImage
from agent.adapters.wayland import WaylandError, connect, list_outputs
from contract.errors import CaptureFailed

logger = logging.getLogger(__name__)

GRIM_TIMEOUT_SECONDS = 10.0
SCREENCOPY = "zwlr_screencopy_manager_v1"


class GrimMonitorGrabber:
    """Each output its own RGB image, left to right (a MonitorGrabber; outputs re-read every capture).

    Called on the scheduler thread; blocks ~0.2 s per 1080p output. Raises CaptureFailed when grim
    is missing, the compositor is gone or refuses the capture.
    """

    def __init__(self, environ: Mapping[str, str], grim: str = "grim") -> None:
        self._environ = dict(environ)
        self._grim = grim

    def __call__(self) -> list[MonitorImage]:
        grim = shutil.which(self._grim, path=self._environ.get("PATH"))
        if grim is None:
            raise CaptureFailed("screenshots on this desktop need the program grim (apt install grim)")
        try:
            client = connect(self._environ)
        except WaylandError as exc:
            raise CaptureFailed(str(exc)) from exc
        try:
            if SCREENCOPY not in client.globals:
                raise CaptureFailed("this compositor offers no screen capture (wlr-screencopy)")
            outputs = list_outputs(client)
        except WaylandError as exc:
            raise CaptureFailed(str(exc)) from exc
        finally:
            client.close()
        names = [output.name for output in outputs if output.name]
        if not names:  # wl_output before version 4 has no names: one image of everything
            return [MonitorImage(0, self._grab(grim, None))]
        return [MonitorImage(index, self._grab(grim, name)) for index, name in enumerate(names)]

    def _grab(self, grim: str, output_name: str | None) -> Image.Image:
        command = [grim, "-t", "ppm", *(["-o", output_name] if output_name else []), "-"]
        try:
            finished = subprocess.run(
                command, env=self._environ, capture_output=True, timeout=GRIM_TIMEOUT_SECONDS, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CaptureFailed(f"grim did not capture the screen: {exc}") from exc
        if finished.returncode != 0:
            reason = finished.stderr.decode("utf-8", "replace").strip()[:200]
            raise CaptureFailed(f"grim could not capture the screen: {reason or finished.returncode}")
        try:
            with Image.open(io.BytesIO(finished.stdout)) as image:
                return image.convert("RGB")
        except (UnidentifiedImageError, OSError) as exc:
            raise CaptureFailed(f"grim's image could not be read: {exc}") from exc
