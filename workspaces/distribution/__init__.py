"""Getting the agent into workspaces: init scripts, bundle."""
