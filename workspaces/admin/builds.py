"""Workspaces and their builds in the console; the actions call the build services."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.utils.html import format_html

from portal import policy
from portal.admin_paging import big_list
from portal.admin_site import (
    DeletedFilter,
    ReadOnlyAdmin,
    ReadOnlyInline,
    admin_link,
    pretty_json,
    run_service_per_object,
)
from portal.errors import Conflict
from templates_app.admin import badge
from workspaces import queries, services
from workspaces.admin.common import (
    job_badge,
    job_duration,
    log_link,
    service_page,
    workspace_badge,
)
from workspaces.choices import (
    BuildTransition,
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


class OrphanDeleteForm(forms.Form):
    understood = forms.BooleanField(
        label="I understand",
        help_text=(
            "Portal forgets these workspaces' Terraform state without running Terraform: whatever "
            "they created (containers, volumes, processes) keeps running and must be removed by "
            "hand."
        ),
    )


def _cancel_latest(workspace: Workspace, *, actor) -> WorkspaceBuild:
    if workspace.latest_build is None:
        raise Conflict("It has no build to cancel.")
    return services.cancel_build(workspace.latest_build, actor=actor)


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
    actions = (
        "start_workspaces",
        "stop_workspaces",
        "delete_workspaces",
        "cancel_builds",
        "orphan_delete_workspaces",
    )

    def get_queryset(self, request):
        qs = queries.with_latest_build(super().get_queryset(request)).select_related(
            "latest_build__template_version"
        )
        # Terraform state is encrypted and can be large; no page shows it.
        return qs.defer(
            "latest_build__state",
            "latest_build__job__input",
            "latest_build__template_version__readme",
            "latest_build__template_version__parameters_schema",
            "latest_build__template_version__resources",
            "template__description",
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

    # Actions: the services decide (and audit); refusals become one message per workspace.

    def has_manage_permission(self, request) -> bool:
        return policy.can(request.user, "build", "workspace")

    def _build_each(self, request, queryset, *, done: str, **build):
        run_service_per_object(
            request,
            queryset,
            lambda ws: services.create_build(ws, actor=request.user, **build),
            done=done,
            label=lambda ws: f"{ws.owner.username}/{ws.name}",
        )

    @admin.action(description="Start selected workspaces", permissions=["manage"])
    def start_workspaces(self, request, queryset):
        self._build_each(request, queryset, done="Starting", transition=BuildTransition.START)

    @admin.action(description="Stop selected workspaces", permissions=["manage"])
    def stop_workspaces(self, request, queryset):
        self._build_each(request, queryset, done="Stopping", transition=BuildTransition.STOP)

    @admin.action(description="Delete selected workspaces", permissions=["manage"])
    def delete_workspaces(self, request, queryset):
        self._build_each(request, queryset, done="Deleting", transition=BuildTransition.DELETE)

    @admin.action(
        description="Cancel the running build of selected workspaces", permissions=["manage"]
    )
    def cancel_builds(self, request, queryset):
        run_service_per_object(
            request,
            queryset,
            lambda ws: _cancel_latest(ws, actor=request.user),
            done="Canceled the build of",
            label=lambda ws: f"{ws.owner.username}/{ws.name}",
        )

    @admin.action(
        description="Orphan-delete selected workspaces (forget state, destroy nothing)",
        permissions=["manage"],
    )
    def orphan_delete_workspaces(self, request, queryset):
        workspaces = list(queryset)
        form = OrphanDeleteForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            self._build_each(
                request,
                workspaces,
                done="Orphan-deleting",
                transition=BuildTransition.DELETE,
                orphan=True,
            )
            return None  # back to the list, with the messages
        hidden = [("action", "orphan_delete_workspaces")]
        hidden += [(helpers.ACTION_CHECKBOX_NAME, str(w.pk)) for w in workspaces]
        return service_page(
            self,
            request,
            title="Orphan-delete workspaces",
            form=form,
            submit_label="Orphan-delete",
            objects=[f"{w.owner.username}/{w.name}" for w in workspaces],
            objects_intro=(
                "Delete these workspaces without destroying their resources. Use this only when "
                "a normal delete cannot succeed (for example the infrastructure is already gone):"
            ),
            hidden=hidden,
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
