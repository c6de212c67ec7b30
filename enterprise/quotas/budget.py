"""Reading quotas: a user's budget (their groups' allowances) and what their workspaces cost."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Sum

from enterprise.groups.membership import groups_of
from workspaces.models import Workspace


@dataclass(frozen=True)
class Usage:
    consumed: int  # a day, over the latest build of each of the user's workspaces
    budget: int  # a day: the sum of their groups' quota allowances

    @property
    def remaining(self) -> int:
        return max(self.budget - self.consumed, 0)


def budget_of(user) -> int:
    """The sum of the quota allowances of the user's groups (Everyone included while active)."""
    total = groups_of(user).aggregate(total=Sum("quota_allowance"))["total"]
    return int(total or 0)


def consumed_by(user, *, besides=None) -> int:
    """What the latest build of each of the user's workspaces costs a day (stopped ones keep
    their persistent resources' cost), leaving out the workspace `besides`."""
    workspaces = Workspace.objects.filter(owner_id=user.pk, deleted_at__isnull=True)
    if besides is not None:
        workspaces = workspaces.exclude(pk=besides.pk)
    total = workspaces.aggregate(total=Sum("latest_build__daily_cost"))["total"]
    return int(total or 0)


def usage_of(user) -> Usage:
    return Usage(consumed=consumed_by(user), budget=budget_of(user))
