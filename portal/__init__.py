"""Portal: self-hosted remote development environments on Django."""

from portal_shared.version import __version__  # noqa: F401 - portal.__version__
