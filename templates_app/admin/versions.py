"""Template versions in the console: the list, a version's page, and its authoring pages."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import F, Q
from django.urls import path
from django.utils.html import format_html

from portal.admin_site import ReadOnlyAdmin, admin_link, pretty_json, run_service_per_object
from templates_app.admin.pages import ConsolePagesMixin
from templates_app.console import (
    access,
    archive_form,
    deprecation_form,
    editor,
    import_page,
    links,
)
from templates_app.console.display import (
    import_badge,
    is_changelist,
    job_url,
    may_manage_templates,
    parameters_table,
    resources_table,
)
from templates_app.console.promotion import promote
from templates_app.models import TemplateVersion


class ActiveVersionFilter(admin.SimpleListFilter):
    title = "active"
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return [("yes", "Active version"), ("no", "Not active")]

    def queryset(self, request, queryset):
        is_active = Q(template__active_version=F("pk"))
        if self.value() == "yes":
            return queryset.filter(is_active)
        if self.value() == "no":
            return queryset.exclude(is_active)
        return queryset


@admin.register(TemplateVersion)
class TemplateVersionAdmin(ConsolePagesMixin, ReadOnlyAdmin):
    list_display = (
        "name",
        "template",
        "status_display",
        "is_active",
        "daily_cost",
        "file_hash",
        "created_by",
        "created_at",
    )
    list_filter = (
        "import_status",
        ActiveVersionFilter,
        deprecation_form.DeprecatedFilter,
        archive_form.ArchivedFilter,
        "created_at",
    )
    search_fields = ("name", "template__name", "message", "file__hash")
    date_hierarchy = "created_at"
    fields = (
        "name",
        "template",
        "is_active",
        "message",
        "status_display",
        "deprecation_display",
        "archive_display",
        "import_error_display",
        "import_job_links",
        "authoring_links",
        "parameters_table",
        "start_resources",
        "stop_resources",
        "daily_cost",
        "provisioner_tags_display",
        "readme",
        "file_link",
        "created_by",
        "created_at",
        "updated_at",
        "id",
    )
    readonly_fields = fields
    actions = ("promote_versions", "archive_versions", "unarchive_versions")

    def get_queryset(self, request):
        # The archive can be megabytes; pages only need its name and size. (A select_related
        # here makes the changelist ignore list_select_related, so it names every relation.)
        qs = super().get_queryset(request).select_related("template", "created_by", "file")
        qs = qs.defer("file__data")
        if is_changelist(request):
            qs = qs.defer("readme", "parameters_schema", "resources")  # the list shows none
        return qs

    def get_fields(self, request, obj=None):
        # The authoring pages refuse those who may not change the version: no links for them.
        if obj is not None and access.may_change(request.user, obj.template):
            return self.fields
        return tuple(f for f in self.fields if f != "authoring_links")

    @admin.display(description="authoring")
    def authoring_links(self, obj: TemplateVersion) -> str:
        return links.version_links(obj, more=True)

    def has_promote_permission(self, request) -> bool:
        return may_manage_templates(request)

    @admin.action(description="Promote selected versions to active", permissions=["promote"])
    def promote_versions(self, request, queryset):
        run_service_per_object(
            request,
            queryset.select_related("template"),
            lambda version: promote(version, actor=request.user),
            done="Promoted",
            label=str,
        )

    @admin.action(description="Archive selected versions", permissions=["promote"])
    def archive_versions(self, request, queryset):
        return archive_form.run_action(self, request, queryset, archive=True)

    @admin.action(description="Unarchive selected versions", permissions=["promote"])
    def unarchive_versions(self, request, queryset):
        return archive_form.run_action(self, request, queryset, archive=False)

    def get_urls(self):
        own = [
            path(
                "<uuid:object_id>/archive/",
                self._view(archive_form.archive_view),
                name="templates_app_templateversion_archive",
            ),
            path(
                "<uuid:object_id>/deprecation/",
                self._view(deprecation_form.deprecation_view, version=True),
                name="templates_app_templateversion_deprecation",
            ),
            path(
                "<uuid:object_id>/import/",
                self._view(import_page.import_view),
                name="templates_app_templateversion_import",
            ),
            path(
                "<uuid:object_id>/edit/",
                self._view(editor.edit_view),
                name="templates_app_templateversion_edit",
            ),
            path(
                "<uuid:object_id>/create-template/",
                self._view(import_page.create_template_view),
                name="templates_app_templateversion_create_template",
            ),
        ]
        return own + super().get_urls()

    @admin.display(description="deprecation")
    def deprecation_display(self, obj: TemplateVersion) -> str:
        if obj.template_id is None:
            return "-"
        return deprecation_form.display(obj, "admin:templates_app_templateversion_deprecation")

    @admin.display(description="archived")
    def archive_display(self, obj: TemplateVersion) -> str:
        if obj.template_id is None:
            return "-"
        return archive_form.display(obj)

    @admin.display(description="import status", ordering="import_status")
    def status_display(self, obj: TemplateVersion) -> str:
        return import_badge(obj.import_status)

    @admin.display(description="active", boolean=True)
    def is_active(self, obj: TemplateVersion) -> bool:
        return obj.template is not None and obj.template.active_version_id == obj.pk

    @admin.display(description="import error")
    def import_error_display(self, obj: TemplateVersion) -> str:
        if not obj.import_error:
            return "-"
        return format_html('<pre class="portal-import-error">{}</pre>', obj.import_error)

    @admin.display(description="import job")
    def import_job_links(self, obj: TemplateVersion) -> str:
        if obj.import_job_id is None:
            return "-"
        short = str(obj.import_job_id)[:8]
        log_url = job_url("log", obj.import_job_id)
        page_url = job_url("change", obj.import_job_id)
        if log_url is None or page_url is None:
            return f"job {short}"
        return format_html(
            '<a href="{}">Import log</a> · <a href="{}">job {}</a>', log_url, page_url, short
        )

    @admin.display(description="parameters")
    def parameters_table(self, obj: TemplateVersion) -> str:
        return parameters_table(obj.parameters_schema)

    @admin.display(description="resources (start)")
    def start_resources(self, obj: TemplateVersion) -> str:
        return resources_table((obj.resources or {}).get("start"))

    @admin.display(description="resources (stop)")
    def stop_resources(self, obj: TemplateVersion) -> str:
        return resources_table((obj.resources or {}).get("stop"))

    @admin.display(description="provisioner tags")
    def provisioner_tags_display(self, obj: TemplateVersion) -> str:
        return pretty_json(obj.provisioner_tags)

    @admin.display(description="file", ordering="file")
    def file_hash(self, obj: TemplateVersion) -> str:
        return obj.file_id[:12]

    @admin.display(description="file")
    def file_link(self, obj: TemplateVersion) -> str:
        return admin_link(obj.file) if obj.file_id else "-"
