"""Django-free code the server, the CLI and the agent share."""
