"""Tests of the workspace agent process (portal_agent), run against a fake control server."""
