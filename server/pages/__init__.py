"""The HTML pages for administrators: people and settings, the work diary and reports."""
