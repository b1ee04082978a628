"""The JSON API, one blueprint per job."""
