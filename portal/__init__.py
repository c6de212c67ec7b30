"""Portal: self-hosted remote development environments on Django."""

__version__ = "0.1.0"
