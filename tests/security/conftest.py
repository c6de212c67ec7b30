"""Fixtures shared by the security tests: a real server process, people who can sign in to it."""

from tests.security.live_streams import replicas, site  # noqa: F401
from tests.security.real_server import people, portal_server, server_log  # noqa: F401
