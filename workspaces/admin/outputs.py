"""Provisioners, and what builds created (resources, agents, apps), in the console."""

from __future__ import annotations

from datetime import datetime

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from portal.admin_site import (
    ReadOnlyAdmin,
    admin_link,
    pretty_json,
)
from workspaces.admin.common import (
    build_of,
    log_link,
    tags_text,
)
from workspaces.builds.dispatch import ONLINE_WITHIN
from workspaces.choices import (
    JobStatus,
)
from workspaces.models import (
    Provisioner,
    ProvisionerJob,
    WorkspaceAgent,
    WorkspaceApp,
    WorkspaceResource,
)

# ---------------------------------------------------------------- provisioners


def _online_cutoff() -> datetime:
    return timezone.now() - ONLINE_WITHIN


class ProvisionerOnlineFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("online", "Online"), ("offline", "Offline")]

    def queryset(self, request, queryset):
        if self.value() == "online":
            return queryset.filter(last_seen_at__gte=_online_cutoff())
        if self.value() == "offline":
            return queryset.filter(last_seen_at__lt=_online_cutoff())
        return queryset


@admin.register(Provisioner)
class ProvisionerAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "online",
        "tags_display",
        "key_name",
        "version",
        "hostname",
        "pid",
        "last_seen_at",
        "started_at",
    )
    list_filter = (ProvisionerOnlineFilter,)
    search_fields = ("id", "hostname", "version")
    ordering = ("-last_seen_at",)
    fields = (
        "id",
        "online",
        "tags_json",
        "key_name",
        "version",
        "hostname",
        "pid",
        "started_at",
        "last_seen_at",
        "current_jobs",
    )
    readonly_fields = fields

    @admin.display(description="online", boolean=True, ordering="last_seen_at")
    def online(self, obj: Provisioner) -> bool:
        return obj.last_seen_at >= _online_cutoff()

    @admin.display(description="tags")
    def tags_display(self, obj: Provisioner) -> str:
        return tags_text(obj.tags)

    @admin.display(description="tags")
    def tags_json(self, obj: Provisioner) -> str:
        return pretty_json(obj.tags)

    @admin.display(description="jobs it runs")
    def current_jobs(self, obj: Provisioner) -> str:
        jobs = list(
            ProvisionerJob.objects.filter(
                worker_id=obj.pk, status__in=(JobStatus.RUNNING, JobStatus.CANCELING)
            ).only("id", "type", "status")
        )
        if not jobs:
            return "-"
        return format_html_join(
            SafeString("<br>"),
            "{} {} ({})",
            ((admin_link(j, str(j.pk)[:8]), j.type, log_link(j.pk)) for j in jobs),
        )


# ---------------------------------------------------------------- what builds created


@admin.register(WorkspaceResource)
class WorkspaceResourceAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "workspace_link",
        "transition",
        "hide",
        "daily_cost",
        "job_link",
        "created_at",
    )
    list_filter = ("transition", "hide", "created_at")
    search_fields = ("type", "name", "job__build__workspace__name")
    date_hierarchy = "created_at"
    fields = (
        "type",
        "name",
        "address",
        "instance_id",
        "workspace_link",
        "job_link",
        "transition",
        "hide",
        "icon",
        "daily_cost",
        "metadata_display",
        "created_at",
        "id",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("job__build__workspace")
        return qs.defer("job__input", "job__build__state")

    @admin.display(description="workspace")
    def workspace_link(self, obj: WorkspaceResource) -> str:
        build = build_of(obj.job) if obj.job_id else None
        return admin_link(build.workspace) if build else "-"

    @admin.display(description="job")
    def job_link(self, obj: WorkspaceResource) -> str:
        return admin_link(obj.job, f"{obj.job.type} ({obj.job.status})")

    @admin.display(description="metadata")
    def metadata_display(self, obj: WorkspaceResource) -> str:
        return pretty_json(obj.metadata)


@admin.register(WorkspaceAgent)
class WorkspaceAgentAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "resource",
        "lifecycle_state",
        "os",
        "arch",
        "version",
        "first_connected_at",
        "last_connected_at",
        "last_seen_at",
    )
    list_filter = ("lifecycle_state", "os", "arch")
    list_select_related = ("resource",)
    search_fields = ("name", "resource__name", "version")
    date_hierarchy = "created_at"
    # The token hash stays out of the console.
    fields = (
        "name",
        "resource",
        "lifecycle_state",
        "lifecycle_reason",
        "os",
        "arch",
        "version",
        "directory",
        "connection_status",
        "env_display",
        "startup_script",
        "scripts_display",
        "startup_logs",
        "started_at",
        "ready_at",
        "first_connected_at",
        "last_connected_at",
        "disconnected_at",
        "last_seen_at",
        "created_at",
        "id",
    )
    readonly_fields = fields

    @admin.display(description="environment")
    def env_display(self, obj: WorkspaceAgent) -> str:
        return pretty_json(obj.env)

    @admin.display(description="scripts")
    def scripts_display(self, obj: WorkspaceAgent) -> str:
        return pretty_json(obj.scripts)

    @admin.display(description="connection")
    def connection_status(self, obj: WorkspaceAgent) -> str:
        from workspaces.connectivity.agents import agent_status

        return agent_status(obj)

    @admin.display(description="startup logs (last 200 lines)")
    def startup_logs(self, obj: WorkspaceAgent) -> str:
        rows = list(obj.logs.order_by("-id").values_list("created_at", "source", "output")[:200])
        if not rows:
            return "-"
        return format_html(
            '<pre class="portal-scroll-pre">{}</pre>',
            "\n".join(f"{at:%H:%M:%S} [{source}] {line}" for at, source, line in reversed(rows)),
        )


@admin.register(WorkspaceApp)
class WorkspaceAppAdmin(ReadOnlyAdmin):
    list_display = ("slug", "display_name", "agent", "share", "subdomain", "health", "created_at")
    list_filter = ("share", "health", "subdomain")
    list_select_related = ("agent",)
    search_fields = ("slug", "display_name", "url", "agent__name")
    date_hierarchy = "created_at"
    fields = (
        "slug",
        "display_name",
        "agent",
        "icon",
        "url",
        "command",
        "share",
        "subdomain",
        "healthcheck_url",
        "healthcheck_interval",
        "healthcheck_threshold",
        "health",
        "created_at",
        "id",
    )
    readonly_fields = fields
