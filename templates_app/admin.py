"""Templates, versions and their source archives in the operator console (read-only)."""

from __future__ import annotations

from django.contrib import admin

from portal.admin_site import DeletedFilter, ReadOnlyAdmin, admin_link, pretty_json
from templates_app.models import File, Template, TemplateVersion


@admin.register(Template)
class TemplateAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "display_name",
        "active_version_name",
        "created_by",
        "created_at",
        "updated_at",
        "deleted_at",
    )
    list_filter = (DeletedFilter, "created_at")
    list_select_related = ("active_version", "created_by")
    search_fields = ("name", "display_name", "description")
    date_hierarchy = "created_at"
    fields = (
        "name",
        "display_name",
        "description",
        "icon",
        "active_version_link",
        "provisioner_tags_display",
        "default_ttl_seconds",
        "created_by",
        "created_at",
        "updated_at",
        "deleted_at",
        "id",
    )
    readonly_fields = fields

    @admin.display(description="active version", ordering="active_version__name")
    def active_version_name(self, obj: Template) -> str:
        return obj.active_version.name if obj.active_version else "-"

    @admin.display(description="active version")
    def active_version_link(self, obj: Template) -> str:
        version = obj.active_version
        return admin_link(version, version.name) if version else "-"

    @admin.display(description="provisioner tags")
    def provisioner_tags_display(self, obj: Template) -> str:
        return pretty_json(obj.provisioner_tags)


@admin.register(TemplateVersion)
class TemplateVersionAdmin(ReadOnlyAdmin):
    list_display = ("name", "template", "file_hash", "created_by", "created_at")
    list_filter = ("created_at",)
    search_fields = ("name", "template__name", "message", "file__hash")
    date_hierarchy = "created_at"
    fields = (
        "name",
        "template",
        "message",
        "readme",
        "file_link",
        "parameters_schema_display",
        "created_by",
        "created_at",
        "updated_at",
        "id",
    )
    readonly_fields = fields

    @admin.display(description="file", ordering="file")
    def file_hash(self, obj: TemplateVersion) -> str:
        return obj.file_id[:12]

    @admin.display(description="file")
    def file_link(self, obj: TemplateVersion) -> str:
        return admin_link(obj.file) if obj.file_id else "-"

    @admin.display(description="parameters")
    def parameters_schema_display(self, obj: TemplateVersion) -> str:
        return pretty_json(obj.parameters_schema)

    def get_queryset(self, request):
        # The archive can be megabytes; pages only need its name and size. (A select_related
        # here makes the changelist ignore list_select_related, so it names every relation.)
        qs = super().get_queryset(request).select_related("template", "created_by", "file")
        return qs.defer("file__data")


@admin.register(File)
class FileAdmin(ReadOnlyAdmin):
    list_display = ("short_hash", "mimetype", "size", "created_by", "created_at")
    list_filter = ("mimetype", "created_at")
    list_select_related = ("created_by",)
    search_fields = ("hash",)
    date_hierarchy = "created_at"
    fields = ("hash", "mimetype", "size", "created_by", "created_at")
    readonly_fields = fields

    @admin.display(description="SHA-256", ordering="hash")
    def short_hash(self, obj: File) -> str:
        return obj.hash[:12]

    def get_queryset(self, request):
        # Archives stay in the database, never in the page.
        return super().get_queryset(request).defer("data")
