"""Reading quotas: a user's budget (their groups' allowances) and what their workspaces cost."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import Sum

from enterprise.groups.membership import groups_of
from enterprise.groups.models import Group
from workspaces.models import Workspace, WorkspaceBuild


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


@dataclass(frozen=True)
class Figures:
    """What a build's check read, and whether it accepted the cost (see `commit_cost`)."""

    in_force: bool  # some group has an allowance
    previous: int  # the workspace's previous build's cost
    consumed: int  # the owner's other workspaces
    budget: int
    accepted: bool  # the cost was written on the build


def _sql(qs) -> tuple[str, tuple]:
    sql, params = qs.query.sql_with_params()
    return sql, tuple(params)


def commit_cost(build, daily_cost: int) -> Figures:
    """Read the check's figures and, if they allow `daily_cost`, write it on `build`: one
    statement, one round trip (a check runs in every start build). The figures come from the
    same querysets as budget_of and consumed_by; the cost passes when quotas are in force and
    it is no more than the workspace's previous build's, or fits beside the other workspaces'
    consumption. Call it after the per-user lock, in a statement of its own, so that its
    snapshot sees what the lock's previous holder committed."""
    owner = build.workspace.owner
    parts = {
        "in_force": "EXISTS ({})",
        "previous": "COALESCE(({}), 0)",
        "consumed": "COALESCE((SELECT SUM(t.c) FROM ({}) AS t(c)), 0)",
        "budget": "COALESCE((SELECT SUM(t.c) FROM ({}) AS t(c)), 0)",
    }
    querysets = {
        "in_force": Group.objects.filter(quota_allowance__gt=0).order_by().values("pk")[:1],
        "previous": WorkspaceBuild.objects.filter(
            workspace_id=build.workspace_id, build_number__lt=build.build_number
        )
        .order_by("-build_number")
        .values("daily_cost")[:1],
        "consumed": Workspace.objects.filter(owner_id=owner.pk, deleted_at__isnull=True)
        .exclude(pk=build.workspace_id)
        .order_by()
        .values("latest_build__daily_cost"),
        "budget": groups_of(owner).order_by().values("quota_allowance"),
    }
    columns, params = [], []
    for name, template in parts.items():
        sql, args = _sql(querysets[name])
        columns.append(f"{template.format(sql)} AS {name}")
        params.extend(args)
    table = WorkspaceBuild._meta.db_table
    # Composed of Django's compiled querysets and a model's table name; every value is a
    # parameter.
    statement = (
        f"WITH f AS (SELECT {', '.join(columns)}), "  # noqa: S608
        f'accepted AS (UPDATE "{table}" SET daily_cost = %s, updated_at = now() '
        "WHERE id = %s AND (SELECT in_force AND (%s <= previous OR consumed + %s <= budget) "
        "FROM f) RETURNING 1) "
        "SELECT in_force, previous, consumed, budget, EXISTS (SELECT 1 FROM accepted) FROM f"
    )
    params.extend([daily_cost, build.pk, daily_cost, daily_cost])
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        in_force, previous, consumed, budget, accepted = cursor.fetchone()
    if accepted:
        build.daily_cost = daily_cost
    return Figures(bool(in_force), int(previous), int(consumed), int(budget), bool(accepted))
