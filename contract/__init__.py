"""The contract between the agent and the server: wire formats, the config schema, errors, owner-only files.

Both programs import this package; it imports neither of them (nor flask, sqlalchemy, tkinter, pynput).
"""
