"""The Tk window of the agent: the controller, its views and the log pane."""
