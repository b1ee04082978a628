"""Battery reading and the suspend/resume policy."""

from __future__ import annotations
