"""Reaching workspaces: the agents' control connection, user streams, live events."""
