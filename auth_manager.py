"""Passwords, OTP challenges and tokens (server side) and the sign-in flow (agent side)."""

from __future__ import annotations
