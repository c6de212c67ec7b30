"""The version of Portal: the server, the CLI and the agent it serves are released together."""

__version__ = "0.1.0"
