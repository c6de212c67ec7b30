"""Workspaces, builds, jobs and what builds created, in the operator console (read-only)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from portal.admin_site import (
    DeletedFilter,
    ReadOnlyAdmin,
    ReadOnlyInline,
    admin_link,
    pretty_json,
)
from workspaces import queries
from workspaces.choices import WorkspaceStatus, workspace_status
from workspaces.models import (
    ProvisionerJob,
    ProvisionerJobLog,
    Workspace,
    WorkspaceAgent,
    WorkspaceApp,
    WorkspaceBuild,
    WorkspaceResource,
)

LOG_LINES_ON_JOB_PAGE = 500


class WorkspaceStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return WorkspaceStatus.choices

    def queryset(self, request, queryset):
        status = self.value()
        if status in queries.STATUS_FILTERS:
            return queryset.filter(queries.STATUS_FILTERS[status])
        return queryset


class WorkspaceBuildInline(ReadOnlyInline):
    model = WorkspaceBuild
    fk_name = "workspace"
    fields = ("build_number", "transition", "reason", "job_status", "initiator", "created_at")
    readonly_fields = fields
    ordering = ("-build_number",)

    @admin.display(description="job status")
    def job_status(self, obj: WorkspaceBuild) -> str:
        return obj.job.status

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs.select_related("job", "initiator", "workspace").defer("state", "job__input")


@admin.register(Workspace)
class WorkspaceAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "owner",
        "template",
        "status_display",
        "build_number",
        "created_at",
        "last_used_at",
        "deleted_at",
    )
    list_filter = (WorkspaceStatusFilter, DeletedFilter, "template", "created_at")
    search_fields = ("name", "owner__username", "template__name")
    date_hierarchy = "created_at"
    fields = (
        "name",
        "owner",
        "template",
        "status_display",
        "latest_build_link",
        "autostart_schedule",
        "ttl_seconds",
        "created_at",
        "updated_at",
        "last_used_at",
        "dormant_at",
        "deleted_at",
        "id",
    )
    readonly_fields = fields
    inlines = (WorkspaceBuildInline,)

    def get_queryset(self, request):
        qs = queries.with_latest_build(super().get_queryset(request))
        # Terraform state is encrypted and can be large; no page shows it.
        return qs.defer("latest_build__state", "latest_build__job__input")

    @admin.display(description="status")
    def status_display(self, obj: Workspace) -> str:
        return obj.status

    @admin.display(description="build", ordering="latest_build__build_number")
    def build_number(self, obj: Workspace):
        return obj.latest_build.build_number if obj.latest_build else "-"

    @admin.display(description="latest build")
    def latest_build_link(self, obj: Workspace) -> str:
        build = obj.latest_build
        return admin_link(build, f"#{build.build_number} {build.transition}") if build else "-"


@admin.register(WorkspaceBuild)
class WorkspaceBuildAdmin(ReadOnlyAdmin):
    list_display = (
        "workspace",
        "build_number",
        "transition",
        "reason",
        "status_display",
        "initiator",
        "template_version_name",
        "daily_cost",
        "created_at",
    )
    list_filter = ("transition", "reason", "job__status", "created_at")
    search_fields = ("workspace__name", "workspace__owner__username", "initiator__username")
    date_hierarchy = "created_at"
    fields = (
        "workspace",
        "build_number",
        "transition",
        "reason",
        "status_display",
        "job_link",
        "initiator",
        "template_version",
        "parameters_display",
        "daily_cost",
        "created_at",
        "updated_at",
        "id",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        qs = (
            super()
            .get_queryset(request)
            .select_related(
                "workspace", "initiator", "job", "template_version", "template_version__template"
            )
        )
        return qs.defer("state", "job__input")

    @admin.display(description="status", ordering="job__status")
    def status_display(self, obj: WorkspaceBuild) -> str:
        return workspace_status(obj.transition, obj.job.status)

    @admin.display(description="template version", ordering="template_version__name")
    def template_version_name(self, obj: WorkspaceBuild) -> str:
        return obj.template_version.name

    @admin.display(description="job")
    def job_link(self, obj: WorkspaceBuild) -> str:
        return admin_link(obj.job, f"{obj.job.type} ({obj.job.status})")

    @admin.display(description="parameters")
    def parameters_display(self, obj: WorkspaceBuild) -> str:
        return pretty_json(obj.parameters)


@admin.register(ProvisionerJob)
class ProvisionerJobAdmin(ReadOnlyAdmin):
    list_display = (
        "short_id",
        "type",
        "status",
        "initiator",
        "worker_id",
        "created_at",
        "started_at",
        "completed_at",
    )
    list_filter = (
        "status",
        "type",
        ("created_at", admin.DateFieldListFilter),
        ("completed_at", admin.DateFieldListFilter),
    )
    search_fields = ("id", "initiator__username", "worker_id", "error", "status_reason")
    date_hierarchy = "created_at"
    fields = (
        "id",
        "type",
        "status",
        "status_reason",
        "error",
        "error_code",
        "initiator",
        "build_link",
        "template_version",
        "tags_display",
        "input_display",
        "worker_id",
        "created_at",
        "started_at",
        "heartbeat_at",
        "canceled_at",
        "completed_at",
        "log_output",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs.select_related("initiator", "template_version__template")

    @admin.display(description="id", ordering="id")
    def short_id(self, obj: ProvisionerJob) -> str:
        return str(obj.id)[:8]

    @admin.display(description="workspace build")
    def build_link(self, obj: ProvisionerJob) -> str:
        build = (
            WorkspaceBuild.objects.filter(job=obj)
            .select_related("workspace")
            .defer("state")
            .first()
        )
        return admin_link(build) if build else "-"

    @admin.display(description="tags")
    def tags_display(self, obj: ProvisionerJob) -> str:
        return pretty_json(obj.tags)

    @admin.display(description="input")
    def input_display(self, obj: ProvisionerJob) -> str:
        return pretty_json(obj.input)

    @admin.display(description="logs")
    def log_output(self, obj: ProvisionerJob) -> str:
        lines = list(
            obj.logs.order_by("-id").values_list("level", "stage", "output")[:LOG_LINES_ON_JOB_PAGE]
        )
        if not lines:
            return "-"
        lines.reverse()
        text = "\n".join(
            f"[{level}]{f' {stage}:' if stage else ''} {output}" for level, stage, output in lines
        )
        url = reverse("admin:workspaces_provisionerjoblog_changelist")
        return format_html(
            '<pre class="portal-log">{}</pre><a href="{}?job__exact={}">All log lines</a>',
            text,
            url,
            obj.pk,
        )


@admin.register(ProvisionerJobLog)
class ProvisionerJobLogAdmin(ReadOnlyAdmin):
    list_display = ("id", "job_link", "created_at", "level", "source", "stage", "short_output")
    list_filter = ("level", "source")
    search_fields = ("output", "stage")
    show_full_result_count = False
    fields = ("job_link", "created_at", "level", "source", "stage", "output")
    readonly_fields = fields

    @admin.display(description="job")
    def job_link(self, obj: ProvisionerJobLog) -> str:
        # By id: no join, the job's page has the rest.
        url = reverse("admin:workspaces_provisionerjob_change", args=[obj.job_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.job_id)[:8])

    @admin.display(description="output")
    def short_output(self, obj: ProvisionerJobLog) -> str:
        return obj.output if len(obj.output) <= 120 else f"{obj.output[:119]}…"


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
        build = getattr(obj.job, "build", None) if obj.job_id else None
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
        "env_display",
        "startup_script",
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
