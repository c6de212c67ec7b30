"""Services the provisioner side calls: create import jobs, and record what a job produced."""

from __future__ import annotations

import hashlib
import logging

from django.db import transaction
from django.utils import timezone

from portal import config, crypto
from portal.accounts.services import system_actor
from portal.audit.choices import AuditAction, ResourceType
from portal.audit.services import record
from portal.errors import ServiceError
from templates_app import services as template_services
from templates_app.choices import ImportStatus
from templates_app.models import TemplateVersion
from workspaces import events
from workspaces.builds import jobs
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
from workspaces.provisioner.session import Outcome

log = logging.getLogger(__name__)


def hash_agent_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def owner_groups(user) -> list[str]:
    """Group names for portal_workspace_owner; groups arrive with the enterprise features."""
    return []


# ---------------------------------------------------------------- template imports


def create_import_job(version: TemplateVersion, *, actor) -> ProvisionerJob:
    """The template_version_created hook: every new version gets an import job."""
    from workspaces.builds import dispatch

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


def import_started(version: TemplateVersion) -> None:
    template_services.record_import_result(
        version, actor=system_actor(), status=ImportStatus.RUNNING
    )


def finish_import(job_id, worker_id: str, *, results: dict[str, Outcome], writer) -> str:
    """Complete an import job and store what its dry runs found on the version."""
    start = results.get(BuildTransition.START)
    failed = next((o for o in results.values() if not o.ok), None)
    canceled = any(o.canceled for o in results.values())
    if canceled:
        status, error = JobStatus.CANCELED, "The import was canceled."
    elif failed is not None:
        status, error = JobStatus.FAILED, failed.error
    else:
        status, error = JobStatus.SUCCEEDED, ""
    if status == JobStatus.SUCCEEDED and not config.load().dangerous_allow_path_app_sharing:
        problems = dict.fromkeys(
            problem
            for outcome in results.values()
            for problem in outputs.path_app_problems(outputs.build_resources(outcome.nodes))
        )
        if problems:
            status, error = JobStatus.FAILED, " ".join(problems)
    summary: dict[str, list] = {}
    parameters: list[dict] = []
    daily_cost = 0
    if status == JobStatus.SUCCEEDED:
        for transition, outcome in results.items():
            resources = outputs.build_resources(outcome.nodes)
            summary[transition] = [r.summary() for r in resources]
        parameters = outputs.parameters(start.nodes)
        daily_cost = sum(r["daily_cost"] for r in summary.get(BuildTransition.START, []))
        writer.daemon(
            LogLevel.INFO,
            f"Import succeeded: {len(parameters)} parameter(s), "
            f"{len(summary.get(BuildTransition.START, []))} resource(s) on start, "
            f"daily cost {daily_cost}.",
            "Cleaning up",
        )
    elif error:
        writer.daemon(LogLevel.ERROR, error, "Cleaning up")
    with transaction.atomic():
        job = jobs.complete(job_id, worker_id, status=status, error=error, reason=error)
        template_services.record_import_result(
            job.template_version,
            actor=system_actor(),
            status={
                JobStatus.SUCCEEDED: ImportStatus.SUCCEEDED,
                JobStatus.FAILED: ImportStatus.FAILED,
                JobStatus.CANCELED: ImportStatus.CANCELED,
            }[status],
            error=error,
            parameters_schema=parameters,
            resources=summary,
            daily_cost=daily_cost,
        )
    return status


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
                token_hash=hash_agent_token(agent.token),
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


def _audit_build_end(build, *, status: str, reason: str, error: str, orphan: bool = False):
    record(
        actor=system_actor(),
        action={
            BuildTransition.START: AuditAction.START,
            BuildTransition.STOP: AuditAction.STOP,
            BuildTransition.DELETE: AuditAction.DELETE,
        }[build.transition],
        resource_type=ResourceType.WORKSPACE_BUILD,
        resource_id=build.id,
        resource_target=f"{build.workspace.name} #{build.build_number}",
        additional_fields={
            "workspace_id": str(build.workspace_id),
            "build_number": build.build_number,
            "transition": build.transition,
            "reason": reason,
            "initiator": str(build.initiator_id),
            "status": status,
            "orphan": orphan,
            "error": error,
        },
        status_code=200 if status == JobStatus.SUCCEEDED else 500,
    )


def finish_build(job_id, worker_id: str, *, outcome: Outcome, orphan: bool = False) -> str:
    """Complete a build job: state (encrypted), resources, cost, and the workspace's fate."""
    if outcome.canceled:
        status = JobStatus.CANCELED
        error = "The build was canceled." + ("" if not outcome.ok else " Terraform had finished.")
    elif outcome.ok:
        status, error = JobStatus.SUCCEEDED, ""
    else:
        status, error = JobStatus.FAILED, outcome.error or "The build failed."
    with transaction.atomic():
        job = jobs.complete(job_id, worker_id, status=status, error=error, reason=error)
        build = WorkspaceBuild.objects.select_related("workspace").select_for_update().get(job=job)
        build.state = crypto.encrypt(outcome.state or b"")
        fields = ["state", "updated_at"]
        if outcome.nodes:
            build.daily_cost = _store_resources(
                job, build.transition, outputs.build_resources(outcome.nodes)
            )
            fields.append("daily_cost")
        build.save(update_fields=fields)
        workspace = build.workspace
        if status == JobStatus.SUCCEEDED and build.transition == BuildTransition.DELETE:
            workspace.deleted_at = timezone.now()
            workspace.save(update_fields=["deleted_at", "updated_at"])
            revocable.announce_workspace_deleted(workspace, actor=build.initiator)
        _audit_build_end(build, status=status, reason=build.reason, error=error, orphan=orphan)
        if status == JobStatus.SUCCEEDED and build.then_start:
            # In the transaction that ends the stop: the start is queued exactly once, since
            # only one completion of a job can commit.
            _start_after_restart(build, job)
        events.job_changed(job.id, status)
    return status


def _start_after_restart(build: WorkspaceBuild, job: ProvisionerJob) -> None:
    """Queue the start build of a restart whose stop just succeeded, as the stop's initiator."""
    from workspaces import services

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
        log_daemon(job, LogLevel.ERROR, message)
        return
    log_daemon(job, LogLevel.INFO, f"Restart: queued build #{start.build_number} (start).")


def audit_lost_builds(job_ids, *, reason: str) -> None:
    """Audit builds failed because their worker vanished (by the reaper or at its restart)."""
    builds = WorkspaceBuild.objects.filter(job_id__in=job_ids).select_related("workspace", "job")
    for build in builds:
        _audit_build_end(build, status=build.job.status, reason=reason, error=build.job.error)
    events.jobs_changed(job_ids)


def fail_job(job_id, worker_id: str, *, error: str) -> None:
    """End a job Portal itself could not run (not Terraform's failure)."""
    with transaction.atomic():
        job = jobs.complete(job_id, worker_id, status=JobStatus.FAILED, error=error, reason=error)
        if job.type == JobType.TEMPLATE_VERSION_IMPORT and job.template_version_id:
            template_services.record_import_result(
                job.template_version, actor=system_actor(), status=ImportStatus.FAILED, error=error
            )
        else:
            events.job_changed(job.id, JobStatus.FAILED)


def log_daemon(job: ProvisionerJob, level: str, output: str) -> None:
    ProvisionerJobLog.objects.create(
        job=job, source=LogSource.PROVISIONER_DAEMON, level=level, output=output
    )
