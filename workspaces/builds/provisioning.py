"""Services the provisioner side calls: create import jobs, and record what a job produced."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from portal import config, crypto, secret_hash
from portal.audit.choices import AuditAction
from portal.audit.services import record
from portal.errors import ServiceError
from templates_app import services as template_services
from templates_app.choices import ImportStatus
from templates_app.models import TemplateVersion
from workspaces import events, schedule_services, services
from workspaces.audit_types import WorkspaceAction, WorkspaceResourceType
from workspaces.builds import dispatch, jobs, logs
from workspaces.choices import BuildReason, BuildTransition, JobStatus, JobType, LogLevel, LogSource
from workspaces.connectivity import revocable
from workspaces.models import (
    ProvisionerJob,
    ProvisionerJobLog,
    WorkspaceAgent,
    WorkspaceApp,
    WorkspaceBuild,
    WorkspaceResource,
)
from workspaces.provisioner import outputs
from workspaces.provisioner.protocol import JobResult, RunResult

log = logging.getLogger(__name__)


def owner_groups(user) -> list[str]:
    """Group names for portal_workspace_owner; groups arrive with the enterprise features."""
    return []


# ---------------------------------------------------------------- template imports


def create_import_job(version: TemplateVersion, *, actor) -> ProvisionerJob:
    """The template_version_created hook: every new version gets an import job."""
    template = version.template
    tags = version.provisioner_tags or (template.provisioner_tags if template else {})
    job = ProvisionerJob.objects.create(
        type=JobType.TEMPLATE_VERSION_IMPORT,
        template_version=version,
        initiator=actor,
        tags=tags or {},
        input={"template_version_id": str(version.id)},
    )
    template_services.attach_import_job(version, actor=actor, job_id=job.id)
    transaction.on_commit(lambda: dispatch.enqueue(job))
    return job


def import_started(version: TemplateVersion, *, actor) -> None:
    """A worker took the version's import job: the version's import is running."""
    template_services.record_import_result(version, actor=actor, status=ImportStatus.RUNNING)


def finish_import(job_id, worker_id: str, result: JobResult, *, actor) -> str:
    """Complete an import job and store what its dry runs found on the version."""
    runs = result.dry_runs
    start = runs.get(BuildTransition.START)
    failed = next((r for r in runs.values() if not r.ok), None)
    canceled = any(r.canceled for r in runs.values())
    if canceled:
        status, error = JobStatus.CANCELED, "The import was canceled."
    elif failed is not None:
        status, error = JobStatus.FAILED, failed.error
    elif start is None:
        status, error = JobStatus.FAILED, "The import planned nothing."
    else:
        status, error = JobStatus.SUCCEEDED, ""
    if status == JobStatus.SUCCEEDED and not config.load().dangerous_allow_path_app_sharing:
        problems = dict.fromkeys(
            problem for run in runs.values() for problem in outputs.path_app_problems(_of(run))
        )
        if problems:
            status, error = JobStatus.FAILED, " ".join(problems)
    summary: dict[str, list] = {}
    parameters: list[dict] = []
    daily_cost = 0
    if status == JobStatus.SUCCEEDED:
        for transition, run in runs.items():
            summary[transition] = [r.summary() for r in _of(run)]
        parameters = result.parameters
        daily_cost = sum(r["daily_cost"] for r in summary.get(BuildTransition.START, []))
        message = (
            f"Import succeeded: {len(parameters)} parameter(s), "
            f"{len(summary.get(BuildTransition.START, []))} resource(s) on start, "
            f"daily cost {daily_cost}."
        )
        log_daemon(job_id, LogLevel.INFO, message, "Cleaning up")
    elif error:
        log_daemon(job_id, LogLevel.ERROR, error, "Cleaning up")
    with transaction.atomic():
        job = jobs.complete(job_id, worker_id, status=status, error=error, reason=error)
        template_services.record_import_result(
            job.template_version,
            actor=actor,
            status={
                JobStatus.SUCCEEDED: ImportStatus.SUCCEEDED,
                JobStatus.FAILED: ImportStatus.FAILED,
                JobStatus.CANCELED: ImportStatus.CANCELED,
            }[status],
            error=error,
            parameters_schema=parameters,
            external_auth=result.external_auth if status == JobStatus.SUCCEEDED else [],
            resources=summary,
            daily_cost=daily_cost,
        )
    return status


def _of(run: RunResult) -> list:
    return run.resources or []


# ---------------------------------------------------------------- workspace builds


def prior_state(build: WorkspaceBuild) -> bytes:
    """The encrypted state this build starts from: the newest earlier build that has one."""
    state = (
        WorkspaceBuild.objects.filter(
            workspace_id=build.workspace_id, build_number__lt=build.build_number
        )
        .exclude(state=b"")
        .order_by("-build_number")
        .values_list("state", flat=True)
        .first()
    )
    return bytes(state) if state else b""


def _store_resources(job: ProvisionerJob, transition: str, resources) -> int:
    # Idempotent: a retried completion replaces, never duplicates.
    WorkspaceResource.objects.filter(job=job).delete()
    total = 0
    for res in resources:
        row = WorkspaceResource.objects.create(
            job=job,
            transition=transition,
            type=res.type,
            name=res.name,
            address=res.address,
            instance_id=res.instance_id[:255],
            hide=res.hide,
            icon=res.icon,
            daily_cost=res.daily_cost,
            metadata=res.metadata,
        )
        total += res.daily_cost
        for agent in res.agents:
            agent_row = WorkspaceAgent.objects.create(
                resource=row,
                name=agent.name,
                token_hash=secret_hash.digest(agent.token),
                os=agent.os,
                arch=agent.arch,
                directory=agent.directory,
                env=agent.env,
                startup_script=agent.startup_script,
                scripts=agent.scripts,
            )
            WorkspaceApp.objects.bulk_create(
                WorkspaceApp(
                    agent=agent_row,
                    slug=app.slug,
                    display_name=app.display_name,
                    icon=app.icon,
                    url=app.url,
                    command=app.command,
                    share=app.share,
                    subdomain=app.subdomain,
                    healthcheck_url=app.healthcheck_url,
                    healthcheck_interval=app.healthcheck_interval,
                    healthcheck_threshold=app.healthcheck_threshold,
                    health="initializing" if app.healthcheck_url else "disabled",
                )
                for app in agent.apps
            )
    return total


def _audit_build_end(
    build, *, actor, status: str, reason: str, error: str, orphan: bool = False
) -> None:
    record(
        actor=actor,
        action={
            BuildTransition.START: WorkspaceAction.START,
            BuildTransition.STOP: WorkspaceAction.STOP,
            BuildTransition.DELETE: AuditAction.DELETE,
        }[build.transition],
        resource_type=WorkspaceResourceType.WORKSPACE_BUILD,
        resource_id=build.id,
        resource_target=f"{build.workspace.name} #{build.build_number}",
        additional_fields={
            "workspace_id": str(build.workspace_id),
            "build_number": build.build_number,
            "transition": build.transition,
            "reason": reason,
            "status": status,
            "orphan": orphan,
            "error": error,
        },
        build_initiator_id=build.initiator_id,
        build_reason=build.reason,
        status_code=200 if status == JobStatus.SUCCEEDED else 500,
    )


def finish_build(job_id, worker_id: str, result: JobResult, *, actor) -> str:
    """Complete a build job: state (encrypted), resources, cost, and the workspace's fate.

    `actor` is who reports the end (the system actor for this server's own workers).
    """
    run = result.run or RunResult(ok=True)  # an orphan delete runs nothing and succeeds
    if run.canceled:
        status = JobStatus.CANCELED
        error = "The build was canceled." + ("" if not run.ok else " Terraform had finished.")
    elif run.ok:
        status, error = JobStatus.SUCCEEDED, ""
    else:
        status, error = JobStatus.FAILED, run.error or "The build failed."
    with transaction.atomic():
        job = jobs.complete(job_id, worker_id, status=status, error=error, reason=error)
        build = WorkspaceBuild.objects.select_related("workspace").select_for_update().get(job=job)
        build.state = crypto.encrypt(result.state or b"")
        fields = ["state", "updated_at"]
        if run.resources is not None:
            build.daily_cost = _store_resources(job, build.transition, run.resources)
            fields.append("daily_cost")
        if status == JobStatus.SUCCEEDED and build.transition == BuildTransition.START:
            fields += schedule_services.stamp_deadlines(build, at=timezone.now())
        build.save(update_fields=fields)
        workspace = build.workspace
        if status == JobStatus.SUCCEEDED and build.transition == BuildTransition.DELETE:
            workspace.deleted_at = timezone.now()
            workspace.save(update_fields=["deleted_at", "updated_at"])
            revocable.announce_workspace_deleted(workspace, actor=build.initiator)
        _audit_build_end(
            build,
            actor=actor,
            status=status,
            reason=build.reason,
            error=error,
            orphan=result.orphan,
        )
        if status == JobStatus.SUCCEEDED and build.then_start:
            # In the transaction that ends the stop: the start is queued exactly once, since
            # only one completion of a job can commit.
            _start_after_restart(build, job)
        events.job_changed(job.id, status)
        events.build_finished(build, status)
    return status


def _start_after_restart(build: WorkspaceBuild, job: ProvisionerJob) -> None:
    """Queue the start build of a restart whose stop just succeeded, as the stop's initiator."""
    initiator = build.initiator
    try:
        if not initiator.is_active:
            raise ServiceError(f"{initiator.username}, who asked for the restart, is suspended.")
        # A savepoint: a refused start (quota, permissions, parameters) keeps the stop's end.
        with transaction.atomic():
            start = services.create_build(
                build.workspace,
                actor=initiator,
                transition=BuildTransition.START,
                parameters=build.then_start_parameters or None,
                reason=BuildReason.RESTART,
            )
    except ServiceError as e:
        problems = "; ".join(f"{v.get('field')}: {v.get('detail')}" for v in e.validations)
        message = f"Restart: stopped, but not started again: {e.message}" + (
            f" ({problems})" if problems else ""
        )
        log.warning("build %s: %s", build.id, message)
        log_daemon(job.id, LogLevel.ERROR, message)
        return
    log_daemon(job.id, LogLevel.INFO, f"Restart: queued build #{start.build_number} (start).")


def audit_lost_builds(job_ids, *, reason: str, actor) -> None:
    """Audit builds failed because their worker vanished (by the reaper or at its restart)."""
    builds = WorkspaceBuild.objects.filter(job_id__in=job_ids).select_related("workspace", "job")
    for build in builds:
        _audit_build_end(
            build, actor=actor, status=build.job.status, reason=reason, error=build.job.error
        )
        events.build_finished(build, build.job.status)
    events.jobs_changed(job_ids)


def fail_job(job_id, worker_id: str, *, error: str, actor) -> None:
    """End a job Portal itself could not run (not Terraform's failure); `actor` reports it."""
    with transaction.atomic():
        job = jobs.complete(job_id, worker_id, status=JobStatus.FAILED, error=error, reason=error)
        build = WorkspaceBuild.objects.select_related("workspace").filter(job=job).first()
        if build is not None:  # users see the build failed: the audit log says so too
            _audit_build_end(
                build, actor=actor, status=JobStatus.FAILED, reason=build.reason, error=error
            )
        if job.type == JobType.TEMPLATE_VERSION_IMPORT and job.template_version_id:
            template_services.record_import_result(
                job.template_version, actor=actor, status=ImportStatus.FAILED, error=error
            )
        else:
            events.job_changed(job.id, JobStatus.FAILED)
            build = WorkspaceBuild.objects.filter(job=job).first()
            if build is not None:
                events.build_finished(build, JobStatus.FAILED)


def log_daemon(job_id, level: str, output: str, stage: str = "") -> None:
    """A line from Portal itself in a job's log, published to its followers once committed."""
    row = ProvisionerJobLog.objects.create(
        job_id=job_id, source=LogSource.PROVISIONER_DAEMON, level=level, stage=stage, output=output
    )
    transaction.on_commit(lambda: logs.publish(job_id, [logs.row_dict(row)]), robust=True)
