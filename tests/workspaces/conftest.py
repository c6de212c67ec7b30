"""Workspace tests record what would be sent to the workers instead of sending it."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def enqueued(monkeypatch) -> list:
    """Jobs handed to workspaces.builds.dispatch.enqueue, in order (no broker, no Terraform)."""
    from workspaces.builds import dispatch

    sent: list = []
    monkeypatch.setattr(dispatch, "enqueue", sent.append)
    return sent
