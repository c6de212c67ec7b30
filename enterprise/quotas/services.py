"""The quota check of a start build (the build_cost_check hook): serialized per user, audited."""

from __future__ import annotations

from django.db import connection

from enterprise.groups.models import Group
from enterprise.quotas.audit_types import WORKSPACE_QUOTA, QuotaAction
from enterprise.quotas.budget import budget_of, commit_cost, consumed_by
from portal import features
from portal.accounts.services import system_actor
from portal.audit.services import record
from workspaces.choices import BuildTransition
from workspaces.models import WorkspaceBuild
from workspaces.provisioner.protocol import QuotaAnswer

GATE = "workspace_quota"
# pg_advisory_xact_lock(space, key): "quot" in ASCII, then a hash of the user id.
_LOCK_SPACE = 0x71756F74


def in_force(build=None) -> bool:
    """Whether quotas apply: the gate is on and some group has an allowance. Allowances start
    at 0, so until an admin gives one, costs are not limited (an upgrade, or evaluation mode
    with every gate on, must not refuse every build of a template with costs). Also the
    build_cost_check_wanted hook: start builds are checked while this holds."""
    return features.enabled(GATE) and Group.objects.filter(quota_allowance__gt=0).exists()


def lock_user(user_id) -> None:
    """Serialize the checks of one user's builds until the transaction ends (any replica):
    each one then sees the cost the previous one accepted."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_LOCK_SPACE, str(user_id)]
        )


def refusal_message(*, consumed: int, daily_cost: int, budget: int) -> str:
    return (
        f"Workspace quota exceeded: this build costs {daily_cost} a day, your other workspaces "
        f"already cost {consumed} a day, and your budget is {budget} a day (the sum of your "
        f"groups' quota allowances); {consumed + daily_cost} would exceed it. Stop or delete "
        "another workspace, or ask an admin to raise one of your groups' quota allowance."
    )


def check_build_cost(build: WorkspaceBuild, *, daily_cost: int) -> QuotaAnswer | None:
    """Accept `build`'s planned `daily_cost` if the owner's budget covers it, writing it on the
    build (budget.commit_cost: the rule and the write in one statement); else refuse with the
    numbers (audited). Stop and delete builds always pass, and so does a start that costs no
    more than the workspace's previous build (as Coder's CommitQuota). Called inside the job
    store's transaction; checks of one user wait for each other (lock_user)."""
    if build.transition != BuildTransition.START or not features.enabled(GATE):
        return None
    owner = build.workspace.owner
    lock_user(owner.pk)
    figures = commit_cost(build, daily_cost)  # after the lock: it sees the last one's cost
    if not figures.in_force:
        return None
    consumed, budget = figures.consumed, figures.budget
    if figures.accepted:
        return QuotaAnswer(
            ok=True,
            consumed=consumed,
            budget=budget,
            message=(
                f"Workspace quota: {consumed} a day for your other workspaces plus {daily_cost} "
                f"for this one, of a budget of {budget} a day."
            ),
        )
    message = refusal_message(consumed=consumed, daily_cost=daily_cost, budget=budget)
    record(
        actor=system_actor(),
        action=QuotaAction.REFUSE,
        resource_type=WORKSPACE_QUOTA,
        resource_id=owner.pk,
        resource_target=owner.username,
        additional_fields={
            "workspace_id": str(build.workspace_id),
            "workspace_name": build.workspace.name,
            "owner": owner.username,
            "build_id": str(build.pk),
            "build_number": build.build_number,
            "consumed": consumed,
            "daily_cost": daily_cost,
            "budget": budget,
        },
        status_code=403,
        build_initiator_id=build.initiator_id,
        build_reason=build.reason,
    )
    return QuotaAnswer(ok=False, consumed=consumed, budget=budget, message=message)


def budget_preview(user) -> tuple[int, int] | None:
    """The cost_budget hook: (consumed, budget) for the create form while the gate is on."""
    if getattr(user, "pk", None) is None or not in_force():
        return None
    return consumed_by(user), budget_of(user)
