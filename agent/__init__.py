"""The desktop agent: engine and scheduler, platform adapters, spool, uploaders, outbox, HTTP client.

It imports the contract package and the design card's agent modules, never the server package.
"""
