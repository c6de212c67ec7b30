"""The in-process job store: the job protocol answered from the database, for this server's workers.

It turns rows into plain job specs (the archive read, the prior state decrypted, the settings
collected) and a runner's reports into writes through services, with the system actor.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import close_old_connections, connection, transaction

from portal import config, crypto, hooks
from portal.accounts.services import system_actor
from portal.errors import ServiceError
from portal.external_auth import config as external_auth_config
from portal.external_auth import services as external_auth
from workspaces.builds import jobs, logs, provisioning
from workspaces.choices import BuildTransition, JobType, LogLevel
from workspaces.models import ProvisionerJob, ProvisionerJobLog, WorkspaceBuild
from workspaces.provisioner.protocol import (
    JobLost,
    JobResult,
    JobSpec,
    LogLine,
    Owner,
    QuotaAnswer,
    WorkspaceMeta,
)

log = logging.getLogger(__name__)

PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"
# A runner calls update() for every batch of lines (ten a second while Terraform talks); the
# owner's heartbeat row is written at most this often, and the answer in between is the last one.
_MIN_BEAT_SECONDS = 1.0


def _release_connection() -> None:
    """Back to the pool between calls: a worker runs several jobs, each with its own threads."""
    if not connection.in_atomic_block:
        connection.close()


def _usable_connection() -> None:
    """A runner's thread may hold a connection the database dropped since its last batch."""
    if not connection.in_atomic_block:
        close_old_connections()


class DatabaseJobStore:
    """JobStore over this server's database, for workers that run in its processes."""

    def __init__(self) -> None:
        self._workers: dict[str, str] = {}
        self._types: dict[str, str] = {}
        self._beats: dict[str, tuple[float, bool]] = {}  # job id -> (last beat, canceled)
        self._lock = threading.Lock()

    # ------------------------------------------------------------ acquire

    def acquire(self, tags: dict[str, str], worker: str, *, job_id=None) -> JobSpec | None:
        job = jobs.acquire(worker, tags=tags, job_id=job_id)
        if job is None:
            return None
        key = str(job.id)
        with self._lock:
            self._workers[key], self._types[key] = worker, job.type
            self._beats[key] = (time.monotonic(), False)
        try:
            return job_spec(job)
        except Exception as exc:
            # As if the runner had failed it: the job is ours and must not hang as running.
            log.exception("job %s could not be prepared", job.id)
            error = f"Portal failed to run the job: {type(exc).__name__}: {exc}"
            provisioning.log_daemon(job.id, LogLevel.ERROR, error)
            self.fail(key, error)
            return None

    def resume(self, job_id: str, worker: str) -> bool:
        """Know a job `worker` acquired in another process (an external daemon's requests may
        reach any server process); False, and the store keeps not knowing it, if not theirs."""
        with self._lock:
            if self._workers.get(job_id) == worker:
                return True
        _usable_connection()
        try:
            job_type = (
                ProvisionerJob.objects.filter(pk=job_id, worker_id=worker)
                .values_list("type", flat=True)
                .first()
            )
        except (ValueError, DjangoValidationError):
            job_type = None  # not a job id at all
        finally:
            _release_connection()
        if job_type is None:
            return False
        with self._lock:
            self._workers[job_id], self._types[job_id] = worker, job_type
            self._beats.setdefault(job_id, (0.0, False))
        return True

    # ------------------------------------------------------------ update

    def update(self, job_id: str, lines: list[LogLine]) -> bool:
        try:
            if lines:
                self._write(job_id, lines)
            return self._beat(job_id)
        finally:
            _release_connection()

    def _write(self, job_id: str, lines: list[LogLine]) -> None:
        rows = [
            ProvisionerJobLog(
                job_id=job_id,
                created_at=line.created_at,
                source=line.source,
                level=line.level if line.level in LogLevel.values else LogLevel.INFO,
                stage=line.stage[:128],
                output=line.output,
            )
            for line in lines
        ]
        try:
            _usable_connection()
            created = ProvisionerJobLog.objects.bulk_create(rows)
        except Exception:
            log.exception("could not write %d log lines of job %s", len(rows), job_id)
            return
        try:
            # Rows first, then the publish: a follower never sees an id the database lacks.
            logs.publish(job_id, [logs.row_dict(r) for r in created])
        except Exception:
            # Followers re-read rows from the database; a lost publish delays, never loses.
            log.warning("could not publish logs of job %s", job_id, exc_info=True)

    def _beat(self, job_id: str) -> bool:
        with self._lock:
            last, canceled = self._beats.get(job_id, (0.0, False))
            worker = self._workers.get(job_id)
        if worker is None:
            raise JobLost("this store did not hand the job out")
        # Half the interval: the runner's idle update, an interval after its last one, always
        # finds the beat due, so the row is never left a whole interval behind.
        now = time.monotonic()
        if now - last < min(_MIN_BEAT_SECONDS, config.load().job_heartbeat_seconds / 2):
            return canceled
        try:
            canceled = jobs.heartbeat(job_id, worker)
        except jobs.JobNotOwned as exc:
            raise JobLost(exc.detail) from exc
        with self._lock:
            self._beats[job_id] = (now, canceled)
        return canceled

    # ------------------------------------------------------------ cost check

    def commit_quota(self, job_id: str, daily_cost: int) -> QuotaAnswer:
        worker, _ = self._owner(job_id)
        try:
            _usable_connection()
            with transaction.atomic():
                job = jobs.lock_owned(job_id, worker)
                build = WorkspaceBuild.objects.select_related("workspace__owner").get(job=job)
                return check_build_cost(build, daily_cost=max(int(daily_cost), 0))
        except jobs.JobNotOwned as exc:
            raise JobLost(exc.detail) from exc
        finally:
            _release_connection()

    # ------------------------------------------------------------ the end

    def complete(self, job_id: str, result: JobResult) -> None:
        worker, job_type = self._owner(job_id)
        try:
            if job_type == JobType.WORKSPACE_BUILD:
                provisioning.finish_build(job_id, worker, result, actor=system_actor())
            else:
                provisioning.finish_import(job_id, worker, result, actor=system_actor())
        except jobs.JobNotOwned as exc:
            raise JobLost(exc.detail) from exc
        finally:
            self._ended(job_id)

    def fail(self, job_id: str, error: str) -> None:
        worker, _ = self._owner(job_id)
        try:
            provisioning.fail_job(job_id, worker, error=error, actor=system_actor())
        except jobs.JobNotOwned as exc:
            raise JobLost(exc.detail) from exc
        finally:
            self._ended(job_id)

    def _owner(self, job_id: str) -> tuple[str, str]:
        with self._lock:
            if job_id not in self._workers:
                raise JobLost("this store did not hand the job out")
            return self._workers[job_id], self._types[job_id]

    def _ended(self, job_id: str) -> None:
        """Tell followers the job ended, with whatever status it has now."""
        with self._lock:
            self._beats.pop(job_id, None)
        try:
            status = ProvisionerJob.objects.values_list("status", flat=True).get(pk=job_id)
            logs.publish_end(job_id, status)
        except Exception:
            log.debug("could not publish the end of job %s", job_id, exc_info=True)


# ---------------------------------------------------------------- cost checks


def check_build_cost(build: WorkspaceBuild, *, daily_cost: int) -> QuotaAnswer:
    """Ask every build_cost_check handler, in the caller's transaction; the first refusal wins."""
    accepted = QuotaAnswer(ok=True)
    for handler in hooks.build_cost_check.handlers():
        answer = handler(build, daily_cost=daily_cost)
        if answer is None:
            continue
        answer = QuotaAnswer(
            ok=bool(answer.ok),
            consumed=int(answer.consumed),
            budget=int(answer.budget),
            message=str(answer.message or ""),
        )
        if not answer.ok:
            return answer
        accepted = answer
    return accepted


def wants_cost_check(build: WorkspaceBuild) -> bool:
    """Only start builds, and only when a handler asks: otherwise one plain apply, as before."""
    if build.transition != BuildTransition.START:
        return False
    return any(wanted(build) for wanted in hooks.build_cost_check_wanted.handlers())


# ---------------------------------------------------------------- job specs


def external_auth_tokens(user, version) -> dict[str, str]:
    """The owner's tokens of the providers the version requires (refreshed if about to
    expire); one not linked, unknown or unavailable is left out: its data source reads ""."""
    tokens = {}
    for required in version.external_auth or []:
        provider = external_auth_config.provider(str(required.get("id") or ""))
        if provider is None:
            continue
        try:
            tokens[provider.id] = external_auth.access_token(user, provider, actor=system_actor())
        except ServiceError:
            continue
    return tokens


def _owner(user) -> Owner:
    return Owner(
        id=str(user.id),
        name=user.username,
        full_name=user.name,
        email=user.email,
        groups=provisioning.owner_groups(user),
        login_type=user.login_type,
    )


def job_spec(job: ProvisionerJob) -> JobSpec:
    """The plain spec of a job this worker acquired (an import is marked running)."""
    cfg = config.load()
    common = {
        "job_id": str(job.id),
        "type": job.type,
        "access_url": settings.PORTAL_ACCESS_URL,
        "cancel_grace": cfg.build_cancel_grace_seconds,
        "heartbeat_seconds": cfg.job_heartbeat_seconds,
    }
    if job.type == JobType.WORKSPACE_BUILD:
        return _build_spec(job, common)
    if job.type == JobType.TEMPLATE_VERSION_IMPORT:
        return _import_spec(job, common)
    raise ValueError(f"unknown job type {job.type}")


def _build_spec(job: ProvisionerJob, common: dict) -> JobSpec:
    build = (
        WorkspaceBuild.objects.select_related(
            "workspace__owner", "workspace__template", "template_version__file"
        )
        .filter(job=job)
        .first()
    )
    if build is None:
        raise ValueError("the job has no workspace build")
    workspace, version = build.workspace, build.template_version
    orphan = bool(job.input.get("orphan"))
    return JobSpec(
        **common,
        transition=build.transition,
        # An orphan delete runs no Terraform: neither the source nor the state is needed.
        archive=b"" if orphan else bytes(version.file.data),
        prior_state=b"" if orphan else crypto.decrypt(provisioning.prior_state(build)),
        parameters=dict(build.parameters),
        orphan=orphan,
        check_cost=not orphan and wants_cost_check(build),
        owner=_owner(workspace.owner),
        external_auth=external_auth_tokens(workspace.owner, version),
        workspace=WorkspaceMeta(
            id=str(workspace.id),
            name=workspace.name,
            build_id=str(build.id),
            build_number=build.build_number,
            template_id=str(workspace.template_id),
            template_name=workspace.template.name,
            template_version=version.name,
        ),
    )


def _import_spec(job: ProvisionerJob, common: dict) -> JobSpec:
    version = job.template_version
    if version is None:
        raise ValueError("the job has no template version")
    provisioning.import_started(version, actor=system_actor())
    template = version.template
    return JobSpec(
        **common,
        archive=bytes(version.file.data),
        owner=_owner(job.initiator),
        workspace=WorkspaceMeta(
            id=PLACEHOLDER_ID,
            name="dry-run",
            build_id=PLACEHOLDER_ID,
            template_id=str(template.id) if template else PLACEHOLDER_ID,
            template_name=template.name if template else "",
            template_version=version.name,
        ),
    )
