"""The server database: models, engine and migrations, config data, activity data and rollups."""
