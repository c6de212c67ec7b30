"""JSON shapes of workspaces, their builds, resources, agents and apps (flat, cheap to render)."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers

from templates_app import deprecation
from templates_app.api.serializers import JobLogSerializer
from workspaces.choices import (
    AgentLifecycle,
    BuildReason,
    BuildTransition,
    JobStatus,
    WorkspaceStatus,
    workspace_status,
)
from workspaces.connectivity.agents import agent_status
from workspaces.proxy import hosts as app_hosts


class BuildSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    build_number = serializers.IntegerField()
    transition = serializers.CharField()
    reason = serializers.CharField()
    job_status = serializers.CharField()
    template_version_id = serializers.UUIDField()
    daily_cost = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField(
        allow_null=True, help_text="When autostop stops it (a running start build); null: never."
    )
    max_deadline = serializers.DateTimeField(
        allow_null=True, help_text="The latest the deadline may move to (maximum lifetime)."
    )


def _deprecation(template, build) -> dict:
    warning = deprecation.warning(template, build.template_version if build else None)
    return {"template_deprecated": bool(warning), "deprecation_warning": warning}


class WorkspaceSerializer(serializers.Serializer):
    """One row of the workspaces list."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    owner_id = serializers.UUIDField()
    owner_name = serializers.CharField()
    template_id = serializers.UUIDField()
    template_name = serializers.CharField()
    template_display_name = serializers.CharField()
    status = serializers.ChoiceField(choices=WorkspaceStatus.choices)
    outdated = serializers.BooleanField()
    latest_build = BuildSummarySerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    autostart_schedule = serializers.CharField(
        help_text='"CRON_TZ=<zone> <cron>" (Coder\'s format), or "" for none.'
    )
    ttl_ms = serializers.IntegerField(
        allow_null=True, help_text="How long each start runs before autostop; null: no TTL."
    )
    next_start_at = serializers.DateTimeField(
        allow_null=True, help_text="The next time the scheduler looks at its autostart."
    )
    autostart_refusal = serializers.CharField(help_text="Why the last autostart was refused.")
    template_deprecated = serializers.BooleanField(
        help_text="Its template, or the version it runs, is deprecated."
    )
    deprecation_warning = serializers.CharField(
        help_text='What its owner is told of that deprecation ("" when none).'
    )
    dormant_at = serializers.DateTimeField(
        allow_null=True, help_text="When it was marked dormant (it cannot start until reactivated)."
    )
    deleting_at = serializers.DateTimeField(
        allow_null=True, help_text="When the scheduler deletes this dormant workspace; null: never."
    )

    def to_representation(self, w):
        build = w.latest_build
        job = build.job if build else None
        template = w.template
        return {
            "id": w.id,
            "name": w.name,
            "owner_id": w.owner_id,
            "owner_name": w.owner.username,
            "template_id": w.template_id,
            "template_name": template.name,
            "template_display_name": template.display_name or template.name,
            "status": workspace_status(build and build.transition, job and job.status),
            "outdated": bool(build and build.template_version_id != template.active_version_id),
            "latest_build": build
            and {
                "id": build.id,
                "build_number": build.build_number,
                "transition": build.transition,
                "reason": build.reason,
                "job_status": job.status,
                "template_version_id": build.template_version_id,
                "daily_cost": build.daily_cost,
                "created_at": build.created_at,
                "deadline": build.deadline,
                "max_deadline": build.max_deadline,
            },
            "created_at": w.created_at,
            "updated_at": w.updated_at,
            "last_used_at": w.last_used_at,
            "autostart_schedule": w.autostart_schedule,
            "ttl_ms": w.ttl_seconds * 1000 if w.ttl_seconds else None,
            "next_start_at": w.next_autostart_at,
            "autostart_refusal": w.autostart_refusal,
            **_deprecation(template, build),
            "dormant_at": w.dormant_at,
            "deleting_at": w.deleting_at,
        }


class BuildSerializer(serializers.Serializer):
    """A build with its job; needs workspace__owner, job, initiator and template_version loaded."""

    id = serializers.UUIDField()
    workspace_id = serializers.UUIDField()
    workspace_name = serializers.CharField()
    workspace_owner_id = serializers.UUIDField()
    workspace_owner_name = serializers.CharField()
    build_number = serializers.IntegerField()
    transition = serializers.ChoiceField(choices=BuildTransition.choices)
    reason = serializers.ChoiceField(choices=BuildReason.choices)
    status = serializers.ChoiceField(
        choices=WorkspaceStatus.choices, help_text="What this build makes of the workspace."
    )
    job_id = serializers.UUIDField()
    job_status = serializers.ChoiceField(choices=JobStatus.choices)
    status_reason = serializers.CharField()
    error = serializers.CharField()
    error_code = serializers.CharField()
    orphan = serializers.BooleanField()
    then_start = serializers.BooleanField(
        help_text="A restart's stop: the server queues a start build once it succeeded."
    )
    template_version_id = serializers.UUIDField()
    template_version_name = serializers.CharField()
    initiator_id = serializers.UUIDField()
    initiator_name = serializers.CharField()
    parameters = serializers.DictField(child=serializers.CharField())
    daily_cost = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    canceled_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    deadline = serializers.DateTimeField(
        allow_null=True, help_text="When autostop stops it (a succeeded start); null: never."
    )
    max_deadline = serializers.DateTimeField(
        allow_null=True, help_text="The latest the deadline may move to (maximum lifetime)."
    )

    def to_representation(self, b):
        job, workspace = b.job, b.workspace
        return {
            "id": b.id,
            "workspace_id": b.workspace_id,
            "workspace_name": workspace.name,
            "workspace_owner_id": workspace.owner_id,
            "workspace_owner_name": workspace.owner.username,
            "build_number": b.build_number,
            "transition": b.transition,
            "reason": b.reason,
            "status": workspace_status(b.transition, job.status),
            "job_id": job.id,
            "job_status": job.status,
            "status_reason": job.status_reason,
            "error": job.error,
            "error_code": job.error_code,
            "orphan": bool((job.input or {}).get("orphan")),
            "then_start": b.then_start,
            "template_version_id": b.template_version_id,
            "template_version_name": b.template_version.name,
            "initiator_id": b.initiator_id,
            "initiator_name": b.initiator.username,
            "parameters": b.parameters,
            "daily_cost": b.daily_cost,
            "created_at": b.created_at,
            "updated_at": b.updated_at,
            "started_at": job.started_at,
            "canceled_at": job.canceled_at,
            "completed_at": job.completed_at,
            "deadline": b.deadline,
            "max_deadline": b.max_deadline,
        }


class AppSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    display_name = serializers.CharField()
    icon = serializers.CharField()
    url = serializers.CharField()
    command = serializers.CharField()
    share = serializers.CharField()
    subdomain = serializers.BooleanField()
    health = serializers.CharField()
    access_url = serializers.CharField(
        allow_null=True,
        help_text="Where a browser opens the app through Portal: its own host for subdomain apps "
        "when PORTAL_WILDCARD_ACCESS_URL is set, else /@user/workspace.agent/apps/slug/; null "
        "for apps with no URL (commands).",
    )


class AgentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    os = serializers.CharField()
    arch = serializers.CharField()
    directory = serializers.CharField()
    expanded_directory = serializers.CharField(
        help_text="The directory as the agent expanded it when it started (an absolute path); "
        "empty until the agent has started. IDE links open it."
    )
    lifecycle_state = serializers.ChoiceField(choices=AgentLifecycle.choices)
    lifecycle_reason = serializers.CharField()
    # Not a ChoiceField: a third enum called "status" would need a settings override to name it.
    status = serializers.CharField(
        help_text="connecting (never connected), connected, timeout (connected but silent for "
        "longer than PORTAL_AGENT_INACTIVE_SECONDS) or disconnected."
    )
    version = serializers.CharField()
    first_connected_at = serializers.DateTimeField(allow_null=True)
    last_connected_at = serializers.DateTimeField(allow_null=True)
    disconnected_at = serializers.DateTimeField(allow_null=True)
    last_seen_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    ready_at = serializers.DateTimeField(allow_null=True)
    apps = AppSerializer(many=True)


def agent_dict(agent, now=None, workspace=None) -> dict:
    """An agent with its connection status and apps (prefetched or not); `workspace` (with its
    owner) saves the queries for the apps' URLs when the caller has it."""
    workspace = workspace or agent.resource.job.build.workspace
    return {
        "id": agent.id,
        "name": agent.name,
        "os": agent.os,
        "arch": agent.arch,
        "directory": agent.directory,
        "expanded_directory": agent.expanded_directory,
        "lifecycle_state": agent.lifecycle_state,
        "lifecycle_reason": agent.lifecycle_reason,
        "status": agent_status(agent, now),
        "version": agent.version,
        "first_connected_at": agent.first_connected_at,
        "last_connected_at": agent.last_connected_at,
        "disconnected_at": agent.disconnected_at,
        "last_seen_at": agent.last_seen_at,
        "started_at": agent.started_at,
        "ready_at": agent.ready_at,
        "apps": [
            {
                "id": app.id,
                "slug": app.slug,
                "display_name": app.display_name or app.slug,
                "icon": app.icon,
                "url": app.url,
                "command": app.command,
                "share": app.share,
                "subdomain": app.subdomain,
                "health": app.health,
                "access_url": app_hosts.access_url(
                    app,
                    agent_name=agent.name,
                    workspace_name=workspace.name,
                    owner_username=workspace.owner.username,
                ),
            }
            for app in agent.apps.all()
        ],
    }


class MetadataSerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.CharField(
        allow_null=True, help_text="null for a sensitive value, except to the workspace owner."
    )
    sensitive = serializers.BooleanField()


class ResourceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    transition = serializers.CharField()
    type = serializers.CharField()
    name = serializers.CharField()
    address = serializers.CharField()
    instance_id = serializers.CharField()
    hide = serializers.BooleanField()
    icon = serializers.CharField()
    daily_cost = serializers.IntegerField()
    metadata = MetadataSerializer(many=True)
    agents = AgentSerializer(many=True)


def resource_dict(resource, *, reveal: bool, now=None, workspace=None) -> dict:
    """A resource with its agents and apps (prefetched); sensitive metadata only if `reveal`."""
    return {
        "id": resource.id,
        "transition": resource.transition,
        "type": resource.type,
        "name": resource.name,
        "address": resource.address,
        "instance_id": resource.instance_id,
        "hide": resource.hide,
        "icon": resource.icon,
        "daily_cost": resource.daily_cost,
        "metadata": [
            {
                "key": item.get("key", ""),
                "value": item.get("value") if reveal or not item.get("sensitive") else None,
                "sensitive": bool(item.get("sensitive")),
            }
            for item in resource.metadata or []
        ],
        "agents": [agent_dict(agent, now, workspace) for agent in resource.agents.all()],
    }


class WorkspaceDetailSerializer(WorkspaceSerializer):
    """A workspace with its latest build in full and what exists of it now.

    Context: `resources` (prefetched rows to show) and `viewer` (sensitive metadata is shown to
    the workspace owner only).
    """

    latest_build = BuildSerializer(allow_null=True)
    template_active_version_id = serializers.UUIDField(allow_null=True)
    ttl_seconds = serializers.IntegerField(allow_null=True)
    resources = ResourceSerializer(
        many=True,
        help_text="From the newest build that succeeded or recorded resources: what exists now.",
    )

    def to_representation(self, w):
        viewer = self.context.get("viewer")
        reveal = viewer is not None and viewer.pk == w.owner_id
        now = timezone.now()
        build = w.latest_build
        if build is not None:
            build.workspace = w  # already loaded with its owner: no query per field
        return {
            **super().to_representation(w),
            "latest_build": BuildSerializer(build).data if build else None,
            "template_active_version_id": w.template.active_version_id,
            "ttl_seconds": w.ttl_seconds,
            "resources": [
                resource_dict(r, reveal=reveal, now=now, workspace=w)
                for r in self.context.get("resources", [])
            ],
        }


class CreateWorkspaceSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    template_id = serializers.UUIDField(required=False, help_text="Or give `template`.")
    template = serializers.CharField(required=False, help_text="A template name.")
    version_id = serializers.UUIDField(
        required=False, help_text="Default: the template's active version."
    )
    owner = serializers.CharField(
        required=False, default="me", help_text="`me`, a username or a user id."
    )
    parameters = serializers.DictField(
        required=False,
        default=dict,
        help_text="Parameter values by name; strings (numbers, bools and lists are accepted).",
    )

    autostart_schedule = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=120,
        help_text='"CRON_TZ=<zone> <5-field cron>" (or cron alone, UTC); "" for none.',
    )
    ttl_ms = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        help_text="Autostop after each start; default: the template's default TTL.",
    )

    def validate(self, data):
        if data.get("ttl_ms") and data["ttl_ms"] % 1000:
            raise serializers.ValidationError(
                {"ttl_ms": "Give whole seconds (a multiple of 1000)."}
            )
        if not data.get("template_id") and not data.get("template"):
            raise serializers.ValidationError({"template_id": "Give template_id or template."})
        return data


class CreateBuildSerializer(serializers.Serializer):
    transition = serializers.ChoiceField(choices=BuildTransition.choices)
    version_id = serializers.UUIDField(
        required=False, help_text="Default: the version of the previous build."
    )
    parameters = serializers.DictField(
        required=False, default=dict, help_text="Changed parameter values (start builds only)."
    )
    orphan = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Delete only: forget the Terraform state without destroying anything.",
    )


class RestartSerializer(serializers.Serializer):
    parameters = serializers.DictField(
        required=False, default=dict, help_text="Changed parameter values for the start build."
    )


class BuildLogPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Log lines after `after` (this page and later).")
    job_status = serializers.ChoiceField(
        choices=JobStatus.choices, help_text="The build job's status when the page was read."
    )
    results = JobLogSerializer(many=True)
