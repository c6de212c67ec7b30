"""Every write to workspaces and their builds: create, build, restart and cancel."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max

from portal import hooks, policy
from portal.audit import services as audit
from portal.audit.choices import AuditAction
from portal.errors import Conflict, Forbidden, NotFound, ValidationFailed
from portal.external_auth import queries as external_auth_queries
from templates_app import deprecation
from templates_app import parameters as params
from templates_app.models import ImportStatus, Template, TemplateVersion
from workspaces import events
from workspaces.audit_types import WorkspaceAction, WorkspaceResourceType
from workspaces.builds import dispatch, jobs, logs
from workspaces.choices import JOB_ACTIVE, BuildReason, BuildTransition, JobStatus, JobType
from workspaces.models import ProvisionerJob, Workspace, WorkspaceBuild, workspace_name_validator

_AUDIT_ACTIONS = {
    BuildTransition.START: WorkspaceAction.START,
    BuildTransition.STOP: WorkspaceAction.STOP,
    BuildTransition.DELETE: AuditAction.DELETE,
}


def may_manage(actor, workspace: Workspace) -> bool:
    """Owners build their own workspaces; others need workspace.manage_all (the policy)."""
    return policy.can(actor, "build", workspace)


def _check_manage(actor, workspace: Workspace) -> None:
    if not may_manage(actor, workspace):
        raise Forbidden(
            "You may not change this workspace.",
            detail="Only its owner or a user with the owner role can build it.",
        )


def start_refusal(workspace: Workspace) -> str | None:
    """Why `workspace` cannot be started or updated now (None: it can), as the page says it.

    Every start build needs its owner to be allowed to use the template (the policy's `use`,
    whoever starts it: the owner, an owner-role admin or the system's schedules); stop and
    delete are always allowed. A template deleted since keeps its workspaces buildable. A
    dormant workspace starts only once reactivated.
    """
    if workspace.dormant_at is not None:
        return _dormant_refusal(workspace)
    template = workspace.template
    if template.deleted_at is not None or policy.can(workspace.owner, "use", template):
        return None
    label = template.display_name or template.name
    return f"You no longer have access to template {label}: ask a template admin."


def _dormant_refusal(workspace: Workspace) -> str:
    return (
        f"Workspace {workspace.name!r} is dormant: reactivate it first (its page's Reactivate "
        f"button, or `portal reactivate {workspace.name}`)."
    )


def _usable_version(template: Template, version: TemplateVersion | None) -> TemplateVersion:
    if version is None:
        version = template.active_version
        if version is None:
            raise Conflict(f"Template {template.name!r} has no active version to build from.")
    if version.template_id != template.pk:
        raise ValidationFailed.field(
            "version_id",
            f"Version {version.name!r} is not a version of template {template.name!r}.",
        )
    if version.import_status != ImportStatus.SUCCEEDED:
        raise ValidationFailed.field(
            "version_id",
            f"Version {version.name!r} cannot be built: its import {version.import_status}.",
        )
    if version.archived_at is not None:
        raise ValidationFailed.field(
            "version_id",
            f"Version {version.name!r} is archived: unarchive it or choose another version.",
        )
    return version


def _running_conflict(build: WorkspaceBuild) -> Conflict:
    status = build.job.status
    advice = "wait for it to end" if status == JobStatus.CANCELING else "cancel it or wait"
    return Conflict(
        f"Build #{build.build_number} ({build.transition}) is {status}; {advice}.",
        detail=f"Build id {build.id}. A workspace runs one build at a time.",
    )


def _enqueue_on_commit(job: ProvisionerJob) -> None:
    def enqueue() -> None:
        dispatch.enqueue(job)  # looked up at call time: tests record what would be sent

    # robust: the rows are committed; a broker hiccup must not turn the answer into a 500
    # (the job stays pending, where the reaper and the status reason make it visible).
    transaction.on_commit(enqueue, robust=True)


def _new_build(
    workspace: Workspace,
    *,
    actor,
    transition: str,
    version: TemplateVersion,
    values: dict[str, str],
    previous: WorkspaceBuild | None,
    reason: str,
    orphan: bool,
    then_start_parameters: dict | None = None,
) -> WorkspaceBuild:
    """Build and job rows for a workspace locked by the caller, audited and enqueued on commit.

    `then_start_parameters` (a dict, maybe empty) marks a restart's stop build: once it succeeded
    the server queues the start build with these changed values.
    """
    for check in hooks.pre_build.handlers():
        check(workspace, transition, actor=actor, version=version, daily_cost=version.daily_cost)
    last = workspace.builds.aggregate(n=Max("build_number"))["n"] or 0
    build = WorkspaceBuild(
        workspace=workspace,
        template_version=version,
        build_number=last + 1,
        transition=transition,
        reason=reason,
        initiator=actor,
        parameters=values,
        then_start=then_start_parameters is not None,
        then_start_parameters=then_start_parameters or {},
    )
    build.job = ProvisionerJob.objects.create(
        type=JobType.WORKSPACE_BUILD,
        initiator=actor,
        tags=workspace.template.provisioner_tags or {},
        input={"build_id": str(build.id), "orphan": orphan},
    )
    build.save(force_insert=True)
    workspace.latest_build = build
    workspace.save(update_fields=["latest_build", "updated_at"])
    before = previous.parameters if previous else {}
    audit.record(
        actor=actor,
        action=_AUDIT_ACTIONS[transition],
        resource_type=WorkspaceResourceType.WORKSPACE_BUILD,
        resource_id=build.id,
        resource_target=f"{workspace.name} #{build.build_number}",
        diff=audit.diff(
            {f"parameters.{k}": v for k, v in before.items()},
            {f"parameters.{k}": v for k, v in values.items()},
        ),
        additional_fields={
            "workspace_id": str(workspace.id),
            "workspace_name": workspace.name,
            "owner": workspace.owner.username,
            "build_number": build.build_number,
            "transition": transition,
            "reason": reason,
            "template_version": version.name,
            "template_version_id": str(version.id),
            "job_id": str(build.job_id),
            "orphan": orphan,
            **({"then_start": True} if build.then_start else {}),
        },
        status_code=201,
        build_initiator_id=build.initiator_id,
        build_reason=build.reason,
    )
    _enqueue_on_commit(build.job)
    events.job_changed(build.job_id, JobStatus.PENDING)
    return build


def create_workspace(
    *,
    actor,
    owner,
    template: Template,
    name: str,
    parameters: dict | None = None,
    version: TemplateVersion | None = None,
) -> Workspace:
    """A new workspace of `owner` and its build #1 (start)."""
    name = (name or "").strip()
    if actor.pk != owner.pk and not policy.can(actor, "build", "workspace"):
        raise Forbidden("You may only create workspaces for yourself.")
    try:
        workspace_name_validator(name)
    except DjangoValidationError as e:
        raise ValidationFailed.field("name", " ".join(e.messages)) from None
    if not policy.can(owner, "read", template):
        raise NotFound(f"No template {template.name!r} that {owner.username} may use.")
    if not policy.can(owner, "use", template):
        raise Forbidden(
            f"{owner.username} may not use template {template.name!r}: ask a template admin."
        )
    version = _usable_version(template, version)
    if refusal := deprecation.creation_refusal(template, version):
        raise Forbidden(refusal, detail="Deprecated templates and versions take no new workspaces.")
    values = params.validate(version.parameters_schema or [], parameters, creating=True)
    unlinked = external_auth_queries.missing_refusal(owner, version.external_auth)
    if unlinked:
        raise ValidationFailed(
            "This template needs external accounts linked first: "
            + "; ".join(p["detail"] for p in unlinked),
            validations=unlinked,
        )
    taken = Conflict(
        f"{owner.username} already has a workspace named {name!r}.",
        validations=[{"field": "name", "detail": "Choose another name or delete that one."}],
    )
    if Workspace.objects.filter(owner=owner, name__iexact=name, deleted_at__isnull=True).exists():
        raise taken
    try:
        with transaction.atomic():
            # The template's default TTL, as Coder gives new workspaces.
            workspace = Workspace.objects.create(
                owner=owner,
                template=template,
                name=name,
                ttl_seconds=template.default_ttl_seconds or None,
            )
            audit.record(
                actor=actor,
                action=AuditAction.CREATE,
                resource_type=WorkspaceResourceType.WORKSPACE,
                resource_id=workspace.id,
                resource_target=workspace.name,
                additional_fields={
                    "owner": owner.username,
                    "template": template.name,
                    "template_version": version.name,
                    "reason": BuildReason.INITIATOR,
                },
                status_code=201,
            )
            _new_build(
                workspace,
                actor=actor,
                transition=BuildTransition.START,
                version=version,
                values=values,
                previous=None,
                reason=BuildReason.INITIATOR,
                orphan=False,
            )
    except IntegrityError:  # a concurrent create of the same name won the race
        raise taken from None
    return workspace


def create_build(
    workspace: Workspace,
    *,
    actor,
    transition: str,
    version: TemplateVersion | None = None,
    parameters: dict | None = None,
    reason: str = BuildReason.INITIATOR,
    orphan: bool = False,
) -> WorkspaceBuild:
    """Queue a start, stop or delete build; refused while another build of it is active.

    The build keeps the previous build's template version unless `version` is given, and its
    parameter values unless `parameters` changes some (start builds only).
    """
    return _create_build(
        workspace,
        actor=actor,
        transition=transition,
        version=version,
        parameters=parameters,
        reason=reason,
        orphan=orphan,
    )


def restart_workspace(
    workspace: Workspace, *, actor, parameters: dict | None = None
) -> WorkspaceBuild:
    """Queue a stop build that the server follows with a start build once it succeeded.

    The start keeps the stop's template version and initiator, with `parameters` changed; they
    are checked now, so a bad value is refused before anything stops. A failed or canceled stop
    starts nothing. Returns the stop build.
    """
    return _create_build(
        workspace,
        actor=actor,
        transition=BuildTransition.STOP,
        version=None,
        parameters=None,
        reason=BuildReason.INITIATOR,
        orphan=False,
        restart_parameters=dict(parameters or {}),
    )


def _create_build(
    workspace: Workspace,
    *,
    actor,
    transition: str,
    version: TemplateVersion | None,
    parameters: dict | None,
    reason: str,
    orphan: bool,
    restart_parameters: dict | None = None,
) -> WorkspaceBuild:
    if transition not in BuildTransition.values:
        raise ValidationFailed.field(
            "transition", f"Use one of: {', '.join(BuildTransition.values)}."
        )
    if reason not in BuildReason.values:
        raise ValidationFailed.field("reason", f"Use one of: {', '.join(BuildReason.values)}.")
    if orphan and transition != BuildTransition.DELETE:
        raise ValidationFailed.field("orphan", "Only a delete build can orphan the resources.")
    if parameters and transition != BuildTransition.START:
        raise ValidationFailed.field(
            "parameters", "Parameter values can only change with a start build."
        )
    with transaction.atomic():
        workspace = (
            Workspace.objects.select_for_update(of=("self",))
            .select_related("owner", "template__active_version")
            .filter(pk=workspace.pk)
            .first()
        )
        if workspace is None:
            raise NotFound("Workspace not found.")
        _check_manage(actor, workspace)
        if workspace.deleted_at is not None:
            raise Conflict(f"Workspace {workspace.name!r} was deleted; it takes no more builds.")
        if transition == BuildTransition.START or restart_parameters is not None:
            refusal = start_refusal(workspace)
            if refusal is not None:
                if workspace.dormant_at is None and actor.pk != workspace.owner_id:
                    refusal = refusal.replace("You no longer have", "Its owner no longer has")
                raise Forbidden(refusal)
        previous = (
            WorkspaceBuild.objects.select_related("job", "template_version")
            .filter(workspace=workspace)
            .order_by("-build_number")
            .first()
        )
        if previous is not None and previous.job.status in JOB_ACTIVE:
            raise _running_conflict(previous)
        if version is None and previous is not None:
            version = previous.template_version
        else:
            version = _usable_version(workspace.template, version)
            if version.deprecation_message and (
                previous is None or previous.template_version_id != version.pk
            ):
                # Workspaces already on it keep building; none moves onto it.
                raise Conflict(
                    f"Version {version.name!r} is deprecated: {version.deprecation_message}",
                    detail="Ask a template admin to promote a version that is not deprecated.",
                )
        old_values = previous.parameters if previous else {}
        if transition == BuildTransition.START:
            values = params.validate(
                version.parameters_schema or [], parameters, previous=old_values
            )
        else:
            # Stopping or deleting must work even when the old values no longer validate
            # (e.g. a workspace whose first build never succeeded).
            values = dict(old_values)
        then_start = None
        if restart_parameters is not None:
            # The values the start will get, checked before the stop is queued; only the ones
            # the caller changed are kept (normalized), as a start build would be given them.
            final = params.validate(
                version.parameters_schema or [], restart_parameters, previous=old_values
            )
            then_start = {name: final[name] for name in restart_parameters}
        return _new_build(
            workspace,
            actor=actor,
            transition=transition,
            version=version,
            values=values,
            previous=previous,
            reason=reason,
            orphan=orphan,
            then_start_parameters=then_start,
        )


def cancel_build(build: WorkspaceBuild, *, actor) -> WorkspaceBuild:
    """Cancel a pending build at once, or ask the provisioner running it to stop."""
    with transaction.atomic():
        workspace = (
            Workspace.objects.select_for_update(of=("self",))
            .select_related("owner")
            .get(pk=build.workspace_id)
        )
        _check_manage(actor, workspace)
        build = WorkspaceBuild.objects.select_related("job").get(pk=build.pk)
        if build.job.status not in JOB_ACTIVE:
            raise Conflict(
                f"Build #{build.build_number} ({build.transition}) has already "
                f"{build.job.status}; there is nothing to cancel."
            )
        before = build.job.status
        build.job = jobs.request_cancel(build.job_id)
        audit.record(
            actor=actor,
            action=AuditAction.WRITE,
            resource_type=WorkspaceResourceType.WORKSPACE_BUILD,
            resource_id=build.id,
            resource_target=f"{workspace.name} #{build.build_number}",
            diff=audit.diff({"job_status": before}, {"job_status": build.job.status}),
            additional_fields={
                "workspace_id": str(workspace.id),
                "build_number": build.build_number,
                "transition": build.transition,
                "reason": build.reason,
                "cancel": True,
            },
            build_initiator_id=build.initiator_id,
            build_reason=build.reason,
        )
        if build.job.status == JobStatus.CANCELED:
            # No provisioner will ever run it, so nobody else would tell log followers it ended.
            job_id = build.job_id
            transaction.on_commit(lambda: logs.publish_end(job_id, JobStatus.CANCELED), robust=True)
            events.build_finished(build, JobStatus.CANCELED)
        events.job_changed(build.job_id, build.job.status)
    build.workspace = workspace
    return build
