"""Workspaces and their builds in the console; the actions call the build services."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html

from portal import policy
from portal.admin_paging import big_list
from portal.admin_site import (
    DeletedFilter,
    ReadOnlyAdmin,
    ReadOnlyInline,
    admin_link,
    pretty_json,
)
from templates_app.admin import badge
from workspaces import queries
from workspaces.admin import operations
from workspaces.admin.common import (
    job_badge,
    job_duration,
    log_link,
    workspace_badge,
)
from workspaces.choices import (
    WorkspaceStatus,
    workspace_status,
)
from workspaces.models import (
    Workspace,
    WorkspaceBuild,
)

# ---------------------------------------------------------------- workspaces


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


class BuildColumns:
    """Columns a build shows alike in the workspace's history inline and in the builds list."""

    @admin.display(description="duration")
    def duration(self, obj: WorkspaceBuild) -> str:
        return job_duration(obj.job)

    @admin.display(description="log")
    def log(self, obj: WorkspaceBuild) -> str:
        return log_link(obj.job_id)


class WorkspaceBuildInline(BuildColumns, ReadOnlyInline):
    model = WorkspaceBuild
    fk_name = "workspace"
    verbose_name_plural = "build history"
    fields = (
        "build_number",
        "transition",
        "reason",
        "status_display",
        "initiator",
        "created_at",
        "duration",
        "log",
    )
    readonly_fields = fields
    ordering = ("-build_number",)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs.select_related("job", "initiator", "workspace").defer("state", "job__input")

    @admin.display(description="status")
    def status_display(self, obj: WorkspaceBuild) -> str:
        return job_badge(obj.job)


@admin.register(Workspace)
@big_list
class WorkspaceAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "owner",
        "template",
        "status_display",
        "latest_build_link",
        "daily_cost",
        "outdated",
        "created_at",
        "deleted_at",
    )
    list_filter = (WorkspaceStatusFilter, DeletedFilter, "template", "created_at")
    search_fields = ("name", "owner__username", "owner__email", "template__name")
    date_hierarchy = "created_at"
    fields = (
        "name",
        "owner",
        "template",
        "status_display",
        "latest_build_link",
        "template_version",
        "outdated",
        "daily_cost",
        "parameters",
        "autostart_schedule",
        "ttl_seconds",
        "created_at",
        "updated_at",
        "last_used_at",
        "dormant_at",
        "deleting_at",
        "deleted_at",
        "id",
    )
    readonly_fields = fields
    inlines = (WorkspaceBuildInline,)
    # Each behind a confirmation page (operations.py); the services decide and audit.
    actions = tuple(operations.action_for(op) for op in operations.OPERATIONS.values())
    change_form_template = "admin/workspaces/workspace/change_form.html"

    def get_queryset(self, request):
        qs = queries.with_latest_build(super().get_queryset(request)).select_related(
            "latest_build__template_version", "template__active_version"
        )
        # Terraform state is encrypted and can be large; no page shows it.
        return qs.defer(
            "latest_build__state",
            "latest_build__job__input",
            "latest_build__template_version__readme",
            "latest_build__template_version__parameters_schema",
            "latest_build__template_version__resources",
            "template__description",
            "template__active_version__readme",
            "template__active_version__parameters_schema",
            "template__active_version__resources",
        )

    @admin.display(description="status")
    def status_display(self, obj: Workspace) -> str:
        return workspace_badge(obj.status)

    @admin.display(description="latest build", ordering="latest_build__build_number")
    def latest_build_link(self, obj: Workspace) -> str:
        build = obj.latest_build
        if build is None:
            return "-"
        return format_html(
            "{} ({})",
            admin_link(build, f"#{build.build_number} {build.transition}"),
            log_link(build.job_id),
        )

    @admin.display(description="cost/day", ordering="latest_build__daily_cost")
    def daily_cost(self, obj: Workspace):
        return obj.latest_build.daily_cost if obj.latest_build else "-"

    @admin.display(description="outdated")
    def outdated(self, obj: Workspace) -> str:
        # Not a boolean icon: a red cross beside every up-to-date workspace reads as an alarm.
        build = obj.latest_build
        if build is None or build.template_version_id == obj.template.active_version_id:
            return "-"
        return badge("outdated", "wait", title="Built from a version that is no longer active.")

    @admin.display(description="template version")
    def template_version(self, obj: Workspace) -> str:
        build = obj.latest_build
        return admin_link(build.template_version, build.template_version.name) if build else "-"

    @admin.display(description="parameters")
    def parameters(self, obj: Workspace) -> str:
        return pretty_json(obj.latest_build.parameters) if obj.latest_build else "-"

    # Operations: the services decide (and audit); refusals become one message per workspace.

    def has_manage_permission(self, request) -> bool:
        return policy.can(request.user, "build", "workspace")

    def get_urls(self):
        own = [
            path(
                "<path:object_id>/operation/<slug:operation>/",
                self.admin_site.admin_view(self.operation_view),
                name="workspaces_workspace_operation",
            )
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        buttons = []
        if self.has_manage_permission(request):
            buttons = operations.object_buttons(object_id)
        return super().change_view(
            request, object_id, form_url, {"operation_buttons": buttons, **(extra_context or {})}
        )

    def operation_view(self, request, object_id, operation):
        """One workspace's operation from its page: confirm (GET), then run (POST)."""
        if not self.has_manage_permission(request):
            raise PermissionDenied
        op = operations.OPERATIONS.get(operation)
        workspace = self.get_object(request, object_id) if op else None  # None: not a uuid
        if workspace is None:
            raise Http404("No such workspace or operation.")
        page = reverse("admin:workspaces_workspace_change", args=[workspace.pk])
        form, ok = operations.confirmed(request, op)
        if ok:
            operations.run(request, op, [workspace])
            return redirect(page)
        return operations.confirmation_page(
            self, request, op, [workspace], form=form, back_url=page, hidden=[]
        )


@admin.register(WorkspaceBuild)
@big_list
class WorkspaceBuildAdmin(BuildColumns, ReadOnlyAdmin):
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
        "duration",
        "log",
    )
    list_filter = ("transition", "reason", "job__status", "created_at")
    search_fields = ("workspace__name", "workspace__owner__username", "initiator__username")
    ordering = ("-created_at", "-id")  # newest first, by index (not every build by number)
    date_hierarchy = "created_at"
    fields = (
        "workspace",
        "build_number",
        "transition",
        "reason",
        "status_display",
        "job_link",
        "log",
        "duration",
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
        return qs.defer(
            "state",
            "job__input",
            "template_version__readme",
            "template_version__parameters_schema",
            "template_version__resources",
        )

    @admin.display(description="status", ordering="job__status")
    def status_display(self, obj: WorkspaceBuild) -> str:
        return workspace_badge(workspace_status(obj.transition, obj.job.status))

    @admin.display(description="template version", ordering="template_version__name")
    def template_version_name(self, obj: WorkspaceBuild) -> str:
        return obj.template_version.name

    @admin.display(description="job")
    def job_link(self, obj: WorkspaceBuild) -> str:
        return admin_link(obj.job, f"{obj.job.type} ({obj.job.status})")

    @admin.display(description="parameters")
    def parameters_display(self, obj: WorkspaceBuild) -> str:
        return pretty_json(obj.parameters)
