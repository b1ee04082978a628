"""The agent's Tk window: the controller, the sign-in flow, the views, their look, and the log pane."""
