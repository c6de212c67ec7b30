"""Audit payload shape of quotas (registered on import): a start build refused over budget."""

from __future__ import annotations

from typing import TypedDict

from django.db import models

from portal.audit import types

WORKSPACE_QUOTA = "workspace_quota"


class QuotaAction(models.TextChoices):
    REFUSE = "refuse"


class BuildRefused(TypedDict):
    """The numbers the owner was told: other workspaces' cost, this build's, the budget."""

    workspace_id: str
    workspace_name: str
    owner: str
    build_id: str
    build_number: int
    consumed: int
    daily_cost: int
    budget: int


types.declare_actions(QuotaAction.choices)
types.declare_resource(
    WORKSPACE_QUOTA, label="Workspace quota", payloads={QuotaAction.REFUSE: BuildRefused}
)
