"""The Flask server: request helpers, JSON API blueprints, pages, object stores, reports, the database.

It imports the contract package and the design card's server modules, never the agent package.
"""
