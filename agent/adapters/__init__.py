"""Platform adapters: input hooks, the idle clock and screen capture, one real adapter per platform."""
