"""UTC now, IANA zone conversion, display strings and local-day bounds."""

from __future__ import annotations
