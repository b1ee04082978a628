"""The one version string of the desktop agent: ``vinova --version``, the window and the User-Agent."""

from __future__ import annotations

__version__ = "1.5.0"
PRODUCT_NAME = "vinova"


def user_agent() -> str:
    """What the agent calls itself on every request to the server (``vinova/1.5.0``)."""
    return f"{PRODUCT_NAME}/{__version__}"
