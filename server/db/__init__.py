"""The server database, split by job.

``models`` (the tables), ``database`` (engine, sessions, migrations), ``users`` (account look-ups),
``config_data`` (config values, overrides, audit), ``activity_data`` (minute samples in and out),
``rollups`` (the 15-minute sums), ``agents`` (each agent's upload backlog), ``screenshot_data``
(screenshot look-ups and the deletion audit).
"""

# Tables defined outside models.py join Base.metadata when the package loads (the schema test compares it).
from server.db import (  # noqa: F401
    links,
    people_audit,
    totp_data,
)
