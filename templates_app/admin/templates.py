"""Templates in the console: the list, the template page with its versions, and its own pages."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, Q
from django.urls import path, reverse
from django.utils.html import format_html

from portal.admin_site import DeletedFilter, ReadOnlyAdmin, ReadOnlyInline, admin_link, pretty_json
from templates_app import scheduling
from templates_app.admin.pages import ConsolePagesMixin
from templates_app.console import (
    access,
    compare,
    deprecation_form,
    links,
    promotion,
    scheduling_form,
    settings_form,
    upload,
)
from templates_app.console.display import import_badge, may_manage_templates
from templates_app.models import Template, TemplateVersion


class TemplateVersionInline(ReadOnlyInline):
    model = TemplateVersion
    fk_name = "template"
    ordering = ("-created_at",)
    base_fields = ("name", "status_display", "active", "daily_cost", "created_by", "created_at")
    readonly_fields = (*base_fields, "promote_link", "authoring_links")
    verbose_name_plural = "versions"

    def get_fields(self, request, obj=None):
        if may_manage_templates(request):
            return (*self.base_fields, "promote_link", "authoring_links")
        return self.base_fields

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("template", "created_by")
        return qs.defer("readme", "parameters_schema", "resources", "import_error")

    @admin.display(description="import status")
    def status_display(self, obj: TemplateVersion) -> str:
        return import_badge(obj.import_status)

    @admin.display(description="active", boolean=True)
    def active(self, obj: TemplateVersion) -> bool:
        return obj.template.active_version_id == obj.pk

    @admin.display(description="")
    def promote_link(self, obj: TemplateVersion) -> str:
        if obj.template.active_version_id == obj.pk:
            return "-"
        url = reverse("admin:templates_app_template_promote", args=[obj.template_id])
        return format_html('<a class="button" href="{}?version={}">Promote</a>', url, obj.pk)

    @admin.display(description="")
    def authoring_links(self, obj: TemplateVersion) -> str:
        return links.version_links(obj)


# Inlines other apps add to the template page (enterprise: its access list); see add_inline.
_extra_inlines: list = []


def add_inline(inline_class) -> None:
    """Show `inline_class` (an InlineModelAdmin of a model with a FK to Template) on the
    template's console page, after its versions. An app's admin module calls this; the inline
    decides its own permissions, and its writes go through that app's services."""
    if inline_class not in _extra_inlines:
        _extra_inlines.append(inline_class)


@admin.register(Template)
class TemplateAdmin(ConsolePagesMixin, ReadOnlyAdmin):
    list_display = (
        "name",
        "display_name",
        "active_version_name",
        "active_import_status",
        "workspace_count",
        "created_by",
        "created_at",
        "deleted_at",
    )
    list_filter = (DeletedFilter, deprecation_form.DeprecatedFilter, "created_at")
    search_fields = ("name", "display_name", "description")
    date_hierarchy = "created_at"
    fields = (
        "name",
        "display_name",
        "description",
        "icon",
        "active_version_link",
        "active_import_status",
        "workspace_count",
        "provisioner_tags_display",
        "scheduling_display",
        "deprecation_display",
        "authoring_links",
        "created_by",
        "created_at",
        "updated_at",
        "deleted_at",
        "id",
    )
    readonly_fields = fields
    inlines = (TemplateVersionInline,)

    def changelist_view(self, request, extra_context=None):
        extra = {"may_upload": access.may_change(request.user, None), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def get_inlines(self, request, obj):
        return (*self.inlines, *_extra_inlines)

    def get_queryset(self, request):
        # "workspaces" is the reverse name of Workspace.template: a join, not an import.
        return (
            super()
            .get_queryset(request)
            .select_related("active_version", "created_by")
            .defer(
                "active_version__readme",
                "active_version__parameters_schema",
                "active_version__resources",
            )
            .annotate(
                live_workspaces=Count("workspaces", filter=Q(workspaces__deleted_at__isnull=True))
            )
        )

    def get_urls(self):
        own = [
            path(
                "<uuid:object_id>/promote/",
                self._view(promotion.promote_view),
                name="templates_app_template_promote",
            ),
            path(
                "<uuid:object_id>/scheduling/",
                self._view(scheduling_form.scheduling_view),
                name="templates_app_template_scheduling",
            ),
            path(
                "<uuid:object_id>/deprecation/",
                self._view(deprecation_form.deprecation_view, version=False),
                name="templates_app_template_deprecation",
            ),
            path(
                "upload/",
                self._view(upload.upload_template_view),
                name="templates_app_template_upload",
            ),
            path(
                "<uuid:object_id>/upload/",
                self._view(upload.upload_version_view),
                name="templates_app_template_upload_version",
            ),
            path(
                "<uuid:object_id>/settings/",
                self._view(settings_form.settings_view),
                name="templates_app_template_settings",
            ),
            path(
                "<uuid:object_id>/compare/",
                self._view(compare.compare_view),
                name="templates_app_template_compare",
            ),
        ]
        return own + super().get_urls()

    @admin.display(description="active version", ordering="active_version__name")
    def active_version_name(self, obj: Template) -> str:
        return obj.active_version.name if obj.active_version else "-"

    @admin.display(description="import status", ordering="active_version__import_status")
    def active_import_status(self, obj: Template) -> str:
        return import_badge(obj.active_version.import_status) if obj.active_version else "-"

    @admin.display(description="workspaces", ordering="live_workspaces")
    def workspace_count(self, obj: Template) -> int:
        return obj.live_workspaces

    @admin.display(description="active version")
    def active_version_link(self, obj: Template) -> str:
        version = obj.active_version
        return admin_link(version, version.name) if version else "-"

    @admin.display(description="scheduling")
    def scheduling_display(self, obj: Template) -> str:
        rules = scheduling.as_api(obj)
        text = ", ".join(
            f"{name}: {value}" for name, value in rules.items() if name != "autostart_requirement"
        )
        days = ", ".join(rules["autostart_requirement"]["days_of_week"]) or "none"
        link = reverse("admin:templates_app_template_scheduling", args=[obj.pk])
        return format_html('{}; autostart days: {} · <a href="{}">Edit</a>', text, days, link)

    @admin.display(description="provisioner tags")
    def provisioner_tags_display(self, obj: Template) -> str:
        return pretty_json(obj.provisioner_tags)

    @admin.display(description="deprecation")
    def deprecation_display(self, obj: Template) -> str:
        return deprecation_form.display(obj, "admin:templates_app_template_deprecation")

    @admin.display(description="authoring")
    def authoring_links(self, obj: Template) -> str:
        return links.template_links(obj)

    def get_fields(self, request, obj=None):
        # The authoring pages refuse those who may not change the template: no links for them.
        if obj is not None and access.may_change(request.user, obj):
            return self.fields
        return tuple(f for f in self.fields if f != "authoring_links")
