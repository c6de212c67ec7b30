"""Uploaded archives in the console: listed by hash and size, never their bytes."""

from __future__ import annotations

from django.contrib import admin

from portal.admin_site import ReadOnlyAdmin
from templates_app.models import File


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
