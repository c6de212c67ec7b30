"""Statuses of jobs, builds, agents and apps, with the allowed transitions of each."""

from django.db import models


class JobType(models.TextChoices):
    TEMPLATE_VERSION_IMPORT = "template_version_import"
    TEMPLATE_VERSION_DRY_RUN = "template_version_dry_run"
    WORKSPACE_BUILD = "workspace_build"


class JobStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELING = "canceling"
    CANCELED = "canceled"


JOB_TRANSITIONS = {
    JobStatus.PENDING: frozenset({JobStatus.RUNNING, JobStatus.CANCELED, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELING}),
    JobStatus.CANCELING: frozenset({JobStatus.CANCELED, JobStatus.FAILED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELED: frozenset(),
}
JOB_ACTIVE = frozenset({JobStatus.PENDING, JobStatus.RUNNING, JobStatus.CANCELING})


class LogLevel(models.TextChoices):
    TRACE = "trace"
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class LogSource(models.TextChoices):
    PROVISIONER = "provisioner"  # Terraform's own output
    PROVISIONER_DAEMON = "provisioner_daemon"  # Portal's messages about the job


class BuildTransition(models.TextChoices):
    START = "start"
    STOP = "stop"
    DELETE = "delete"


class BuildReason(models.TextChoices):
    INITIATOR = "initiator"
    AUTOSTART = "autostart"
    AUTOSTOP = "autostop"
    DORMANCY = "dormancy"
    FAILED_STOP = "failed_stop"  # the cleanup of a start that failed (template failure_ttl)
    REAPER = "reaper"
    RESTART = "restart"  # the start build the server queues after a restart's stop succeeded


class WorkspaceStatus(models.TextChoices):
    """What users see; derived from the latest build's transition and its job's status."""

    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"
    CANCELING = "canceling"
    CANCELED = "canceled"
    DELETING = "deleting"
    DELETED = "deleted"


_IN_PROGRESS = {
    BuildTransition.START: WorkspaceStatus.STARTING,
    BuildTransition.STOP: WorkspaceStatus.STOPPING,
    BuildTransition.DELETE: WorkspaceStatus.DELETING,
}
_DONE = {
    BuildTransition.START: WorkspaceStatus.RUNNING,
    BuildTransition.STOP: WorkspaceStatus.STOPPED,
    BuildTransition.DELETE: WorkspaceStatus.DELETED,
}


def workspace_status(transition: str | None, job_status: str | None) -> str:
    if transition is None or job_status is None:
        return WorkspaceStatus.PENDING
    return {
        JobStatus.PENDING: WorkspaceStatus.PENDING,
        JobStatus.RUNNING: _IN_PROGRESS[transition],
        JobStatus.SUCCEEDED: _DONE[transition],
        JobStatus.FAILED: WorkspaceStatus.FAILED,
        JobStatus.CANCELING: WorkspaceStatus.CANCELING,
        JobStatus.CANCELED: WorkspaceStatus.CANCELED,
    }[job_status]


class AgentLifecycle(models.TextChoices):
    CREATED = "created"
    STARTING = "starting"
    READY = "ready"
    START_ERROR = "start_error"
    START_TIMEOUT = "start_timeout"
    SHUTTING_DOWN = "shutting_down"
    OFF = "off"


AGENT_LIFECYCLE_TRANSITIONS = {
    AgentLifecycle.CREATED: frozenset({AgentLifecycle.STARTING, AgentLifecycle.SHUTTING_DOWN}),
    AgentLifecycle.STARTING: frozenset(
        {
            AgentLifecycle.READY,
            AgentLifecycle.START_ERROR,
            AgentLifecycle.START_TIMEOUT,
            AgentLifecycle.SHUTTING_DOWN,
        }
    ),
    AgentLifecycle.START_TIMEOUT: frozenset(
        {AgentLifecycle.READY, AgentLifecycle.START_ERROR, AgentLifecycle.SHUTTING_DOWN}
    ),
    AgentLifecycle.READY: frozenset({AgentLifecycle.SHUTTING_DOWN, AgentLifecycle.STARTING}),
    AgentLifecycle.START_ERROR: frozenset({AgentLifecycle.STARTING, AgentLifecycle.SHUTTING_DOWN}),
    AgentLifecycle.SHUTTING_DOWN: frozenset({AgentLifecycle.OFF}),
    AgentLifecycle.OFF: frozenset({AgentLifecycle.STARTING}),
}


class AppShareLevel(models.TextChoices):
    OWNER = "owner"
    AUTHENTICATED = "authenticated"
    PUBLIC = "public"


class PortShareLevel(models.TextChoices):
    """Who besides its owner may open a shared port (on its port host)."""

    AUTHENTICATED = "authenticated"
    PUBLIC = "public"


class PortShareProtocol(models.TextChoices):
    """How the agent speaks to the port: plain HTTP, or HTTPS (the port's own certificate)."""

    HTTP = "http"
    HTTPS = "https"


class AppHealth(models.TextChoices):
    DISABLED = "disabled"
    INITIALIZING = "initializing"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


APP_HEALTH_TRANSITIONS = {
    AppHealth.DISABLED: frozenset(),
    AppHealth.INITIALIZING: frozenset({AppHealth.HEALTHY, AppHealth.UNHEALTHY}),
    AppHealth.HEALTHY: frozenset({AppHealth.UNHEALTHY}),
    AppHealth.UNHEALTHY: frozenset({AppHealth.HEALTHY}),
}
