"""Workspaces change only through builds; each build and each template import runs as a job."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Coalesce, Lower, Upper
from django.utils import timezone

from portal.audit.context import current_request_id
from portal.state import check_transition
from templates_app.models import Template, TemplateVersion
from workspaces.choices import (
    AGENT_LIFECYCLE_TRANSITIONS,
    APP_HEALTH_TRANSITIONS,
    JOB_TRANSITIONS,
    AgentLifecycle,
    AppHealth,
    AppShareLevel,
    BuildReason,
    BuildTransition,
    JobStatus,
    JobType,
    LogLevel,
    LogSource,
    PortShareLevel,
    PortShareProtocol,
    workspace_status,
)

workspace_name_validator = RegexValidator(
    r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?$",
    "Use 1-32 letters, digits or '-', starting and ending with a letter or digit.",
)


class ProvisionerJob(models.Model):
    """Work for a provisioner; the database row, not the Celery message, is the truth."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=32, choices=JobType)
    status = models.CharField(
        max_length=16, choices=JobStatus, default=JobStatus.PENDING, db_index=True
    )
    status_reason = models.CharField(max_length=512, blank=True)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    template_version = models.ForeignKey(
        TemplateVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    initiator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    tags = models.JSONField(default=dict, blank=True)
    input = models.JSONField(default=dict, blank=True)
    worker_id = models.CharField(max_length=128, blank=True)
    # The request that created the job (its X-Request-Id): the worker's log lines and audit
    # entries for the job carry it too, so the three can be joined. "" outside a request.
    request_id = models.CharField(max_length=64, blank=True, default=current_request_id)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            # Builds finished per hour: the console dashboard (workspaces/dashboard_panels.py).
            models.Index(
                fields=["completed_at"],
                condition=models.Q(completed_at__isnull=False),
                name="job_completed_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id} ({self.status})"

    def save(self, *args, **kwargs) -> None:
        adding = self._state.adding
        super().save(*args, **kwargs)
        if adding:
            from workspaces.builds import job_metrics

            job_metrics.created(self)

    def transition(self, status: str, *, reason: str = "", error: str = "") -> list[str]:
        """Change status if allowed, stamping times; returns the fields to save."""
        check_transition("provisioner job", JOB_TRANSITIONS, self.status, status)
        from workspaces.builds import job_metrics

        job_metrics.transitioned(self, self.status, status)
        now = timezone.now()
        fields = ["status", "status_reason", "updated_at"]
        self.status = status
        self.status_reason = reason
        if status == JobStatus.RUNNING:
            self.started_at = self.heartbeat_at = now
            fields += ["started_at", "heartbeat_at"]
        if status in {JobStatus.CANCELING, JobStatus.CANCELED} and self.canceled_at is None:
            self.canceled_at = now
            fields.append("canceled_at")
        if status in {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED}:
            self.completed_at = now
            fields.append("completed_at")
        if error:
            self.error = error
            fields.append("error")
        return fields


class ProvisionerJobLog(models.Model):
    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(ProvisionerJob, on_delete=models.CASCADE, related_name="logs")
    created_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=32, choices=LogSource, default=LogSource.PROVISIONER)
    level = models.CharField(max_length=8, choices=LogLevel, default=LogLevel.INFO)
    stage = models.CharField(max_length=128, blank=True)
    output = models.TextField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["job", "id"])]

    def __str__(self) -> str:
        return self.output[:80]


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="workspaces"
    )
    template = models.ForeignKey(Template, on_delete=models.PROTECT, related_name="workspaces")
    name = models.CharField(max_length=32, validators=[workspace_name_validator])
    latest_build = models.ForeignKey(
        "WorkspaceBuild", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # "CRON_TZ=<zone> <5-field cron>" as Coder stores it (workspaces/schedule.py parses it).
    autostart_schedule = models.CharField(max_length=128, blank=True)
    ttl_seconds = models.PositiveIntegerField(null=True, blank=True)
    # When the scheduler should next look at its autostart (null: no schedule); the pass reads
    # due rows through a partial index, and advances it whatever it did.
    next_autostart_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Why the last autostart was refused (shown on the page); cleared by the next success or a
    # schedule change. A refusal is retried at the next scheduled time, never every minute.
    autostart_refusal = models.CharField(max_length=512, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Dormancy (workspaces/schedule_cleanup.py): a dormant workspace cannot start until its
    # owner reactivates it; `deleting_at` is when the scheduler deletes it (null: never), and
    # `delete_warn_at` when its owner is told so (cleared once told).
    dormant_at = models.DateTimeField(null=True, blank=True)
    deleting_at = models.DateTimeField(null=True, blank=True)
    delete_warn_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The scheduler's cleanup leaves this workspace alone until then (a failed auto-delete or a
    # refused cleanup build is tried again later, not every pass).
    cleanup_retry_at = models.DateTimeField(null=True, blank=True, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                "owner",
                Lower("name"),
                condition=models.Q(deleted_at__isnull=True),
                name="workspace_live_name_per_owner",
            )
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(
                fields=["next_autostart_at"],
                condition=models.Q(next_autostart_at__isnull=False, deleted_at__isnull=True),
                name="workspace_autostart_due",
            ),
            # The scheduler's cleanup: live, not dormant workspaces by last use, per template.
            models.Index(
                "template",
                Coalesce("last_used_at", "created_at"),
                condition=models.Q(dormant_at__isnull=True, deleted_at__isnull=True),
                name="workspace_dormancy_due",
            ),
            models.Index(
                fields=["deleting_at"],
                condition=models.Q(deleting_at__isnull=False, deleted_at__isnull=True),
                name="workspace_autodelete_due",
            ),
            models.Index(
                fields=["delete_warn_at"],
                condition=models.Q(delete_warn_at__isnull=False, deleted_at__isnull=True),
                name="workspace_delete_warn_due",
            ),
            # The console's list: newest first, and its name search (icontains: trigrams).
            models.Index(fields=["created_at", "id"], name="workspace_created_idx"),
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="workspace_name_trgm"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> str:
        build = self.latest_build
        if build is None:
            return workspace_status(None, None)
        return workspace_status(build.transition, build.job.status)


class WorkspaceBuild(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="builds")
    template_version = models.ForeignKey(
        TemplateVersion, on_delete=models.PROTECT, related_name="builds"
    )
    build_number = models.PositiveIntegerField()
    transition = models.CharField(max_length=8, choices=BuildTransition)
    reason = models.CharField(max_length=16, choices=BuildReason, default=BuildReason.INITIATOR)
    initiator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    job = models.OneToOneField(ProvisionerJob, on_delete=models.PROTECT, related_name="build")
    parameters = models.JSONField(default=dict, blank=True)
    state = models.BinaryField(default=bytes, blank=True, editable=False)  # encrypted at rest
    daily_cost = models.PositiveIntegerField(default=0)
    # A restart is one stop build marked to be followed, once it succeeded, by a start build the
    # server queues itself (with these changed parameter values): no client has to stay around.
    then_start = models.BooleanField(default=False)
    then_start_parameters = models.JSONField(default=dict, blank=True)
    # Autostop: a succeeded start build stops at `deadline` (its TTL, pushed by activity), never
    # later than `max_deadline` (the template's maximum lifetime). Null: no autostop.
    deadline = models.DateTimeField(null=True, blank=True)
    max_deadline = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-build_number"]
        constraints = [
            models.UniqueConstraint("workspace", "build_number", name="build_unique_number")
        ]
        indexes = [
            models.Index(
                fields=["deadline"],
                condition=models.Q(deadline__isnull=False),
                name="build_deadline",
            ),
            # The console's builds list, newest first.
            models.Index(fields=["created_at", "id"], name="build_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.workspace.name} #{self.build_number} {self.transition}"


class Provisioner(models.Model):
    """A worker able to run jobs, as it last announced itself; online while it keeps doing so."""

    id = models.CharField("worker id", max_length=128, primary_key=True)
    tags = models.JSONField(default=dict, blank=True)
    version = models.CharField(max_length=64, blank=True)
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    # An external daemon's provisioner key (no foreign key: the keys are an enterprise app's);
    # empty for this deployment's own workers.
    key_id = models.UUIDField(null=True, blank=True, db_index=True)
    key_name = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.id


class WorkspaceResource(models.Model):
    """A resource a build's job created (or would create, for imports)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(ProvisionerJob, on_delete=models.CASCADE, related_name="resources")
    transition = models.CharField(max_length=8, choices=BuildTransition)
    type = models.CharField(max_length=128)
    name = models.CharField(max_length=128)
    address = models.CharField(max_length=512, blank=True, help_text="Terraform address.")
    instance_id = models.CharField(
        max_length=255, blank=True, help_text="The resource's own id attribute, if it has one."
    )
    hide = models.BooleanField(default=False)
    icon = models.CharField(max_length=255, blank=True)
    daily_cost = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(
        default=list, blank=True, help_text="[{key, value, sensitive}] from portal_metadata."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["type", "name"]

    def __str__(self) -> str:
        return f"{self.type}.{self.name}"


class WorkspaceAgent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    resource = models.ForeignKey(WorkspaceResource, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=64)
    # Not unique: the token lives in Terraform state, so every build's row for the same agent
    # carries the same one; authentication takes the newest.
    token_hash = models.CharField(max_length=64, db_index=True, editable=False)
    os = models.CharField(max_length=16, default="linux")
    arch = models.CharField(max_length=16, default="amd64")
    directory = models.CharField(max_length=1024, blank=True)
    # `directory` as the agent expanded it (~ and variables), reported when it starts.
    expanded_directory = models.CharField(max_length=1024, blank=True)
    env = models.JSONField(default=dict, blank=True)
    startup_script = models.TextField(blank=True)
    scripts = models.JSONField(
        default=list,
        blank=True,
        help_text="portal_script blocks: [{display_name, script, cron, run_on_start, ...}].",
    )
    lifecycle_state = models.CharField(
        max_length=16, choices=AgentLifecycle, default=AgentLifecycle.CREATED
    )
    lifecycle_reason = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    first_connected_at = models.DateTimeField(null=True, blank=True)
    last_connected_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    version = models.CharField(max_length=64, blank=True)
    # What the agent last reported listening ([{port, network, process_name}]); written only
    # when it changes (portal_agent/listening.py sends only changes).
    listening_ports = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        indexes = [
            # The inactivity sweep (every few seconds, over thousands of agents) reads only
            # agents that have connected.
            models.Index(
                fields=["last_seen_at"],
                condition=models.Q(last_connected_at__isnull=False),
                name="agent_seen_connected",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def transition(self, state: str, *, reason: str = "") -> list[str]:
        check_transition(
            "workspace agent", AGENT_LIFECYCLE_TRANSITIONS, self.lifecycle_state, state
        )
        now = timezone.now()
        fields = ["lifecycle_state", "lifecycle_reason"]
        self.lifecycle_state = state
        self.lifecycle_reason = reason
        if state == AgentLifecycle.STARTING:
            self.started_at = now
            fields.append("started_at")
        if state == AgentLifecycle.READY:
            self.ready_at = now
            fields.append("ready_at")
        return fields


class WorkspaceAgentLog(models.Model):
    """A line of an agent's startup script or `portal_script` output, sent by the agent."""

    id = models.BigAutoField(primary_key=True)
    agent = models.ForeignKey(WorkspaceAgent, on_delete=models.CASCADE, related_name="logs")
    created_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=128, default="startup_script")
    level = models.CharField(max_length=8, choices=LogLevel, default=LogLevel.INFO)
    output = models.TextField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["agent", "id"])]

    def __str__(self) -> str:
        return self.output[:80]


class WorkspaceApp(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent = models.ForeignKey(WorkspaceAgent, on_delete=models.CASCADE, related_name="apps")
    slug = models.CharField(max_length=64)
    display_name = models.CharField(max_length=128, blank=True)
    icon = models.CharField(max_length=255, blank=True)
    url = models.CharField(max_length=2048, blank=True)
    command = models.TextField(blank=True)
    share = models.CharField(max_length=16, choices=AppShareLevel, default=AppShareLevel.OWNER)
    subdomain = models.BooleanField(default=False)
    healthcheck_url = models.CharField(max_length=2048, blank=True)
    healthcheck_interval = models.PositiveIntegerField(default=0)
    healthcheck_threshold = models.PositiveIntegerField(default=0)
    health = models.CharField(max_length=16, choices=AppHealth, default=AppHealth.DISABLED)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["slug"]
        constraints = [models.UniqueConstraint("agent", "slug", name="app_unique_slug")]

    def __str__(self) -> str:
        return self.slug

    def transition(self, health: str) -> list[str]:
        check_transition("workspace app", APP_HEALTH_TRANSITIONS, self.health, health)
        self.health = health
        return ["health"]


class WorkspacePortShare(models.Model):
    """A listening port of a workspace's agent opened to other users on its port host (only
    there: a port's path URL stays its owner's, like a path app). Shares outlive builds: they
    name the agent, not an agent row."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="port_shares")
    agent_name = models.CharField(max_length=64)
    port = models.PositiveIntegerField()
    share_level = models.CharField(max_length=16, choices=PortShareLevel)
    protocol = models.CharField(max_length=8, choices=PortShareProtocol, default="http")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["agent_name", "port"]
        constraints = [
            models.UniqueConstraint(
                "workspace", "agent_name", "port", name="port_share_unique_port"
            )
        ]

    def __str__(self) -> str:
        return f"{self.agent_name}:{self.port} ({self.share_level})"
