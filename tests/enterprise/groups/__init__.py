"""Tests of groups: API, CLI, console and portal page."""
