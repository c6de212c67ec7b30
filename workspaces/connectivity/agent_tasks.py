"""Celery task beat runs to mark agents that went silent without closing their socket."""

from __future__ import annotations

import logging

from celery import shared_task

from workspaces.connectivity import agents

log = logging.getLogger(__name__)


@shared_task(name="workspaces.mark_inactive_agents", ignore_result=True)
def mark_inactive_agents() -> int:
    """Agents whose server process died keep no socket to close: beat catches them here."""
    marked = agents.mark_inactive()
    if marked:
        log.info("marked %d silent workspace agents disconnected", marked)
    return marked
