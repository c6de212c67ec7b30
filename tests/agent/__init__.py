"""Tests of the workspace agent process (portal.agent), run against a fake control server."""
