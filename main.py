"""The desktop agent: Tk sign-in/OTP dialogs, the main window, and the wiring of the agent's threads."""

from __future__ import annotations
