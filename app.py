"""The Flask server: create_app(), thin routes, and the Flask CLI commands."""

from __future__ import annotations
