"""Input listeners, per-second activity counters, per-minute samples and idle detection."""

from __future__ import annotations
