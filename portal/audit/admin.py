"""The audit log in the operator console: read-only, filterable, searchable."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils.html import format_html

from portal.admin_site import DateTimeInputFilter, ReadOnlyAdmin, diff_table, pretty_json
from portal.audit.models import AuditEntry


class SinceFilter(DateTimeInputFilter):
    title = "since"
    field_name = "time"
    parameter_name = "since"
    bound = "since"


class UntilFilter(DateTimeInputFilter):
    title = "until"
    field_name = "time"
    parameter_name = "until"
    bound = "until"


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "time",
        "actor_username",
        "action",
        "resource_type",
        "resource_target",
        "status_code",
        "ip",
        "request_id",
    )
    list_display_links = ("time",)
    list_filter = (
        "action",
        "resource_type",
        "actor_username",
        "status_code",
        "build_reason",
        SinceFilter,
        UntilFilter,
    )
    search_fields = ("resource_target", "actor_username", "request_id", "resource_id")
    date_hierarchy = "time"
    # The log only grows: counting every row on each page view is wasted work.
    show_full_result_count = False
    fields = (
        "time",
        "actor_link",
        "action",
        "resource_type",
        "resource_id",
        "resource_target",
        "status_code",
        "build_initiator_link",
        "build_reason",
        "diff_display",
        "additional_fields_display",
        "ip",
        "user_agent",
        "request_id",
    )
    readonly_fields = fields

    @admin.display(description="actor")
    def actor_link(self, obj: AuditEntry) -> str:
        name = obj.actor_username or "system"
        if obj.actor_id is None:
            return name
        url = reverse("admin:accounts_user_change", args=[obj.actor_id])
        return format_html('<a href="{}">{}</a>', url, name)

    @admin.display(description="build initiator")
    def build_initiator_link(self, obj: AuditEntry) -> str:
        if obj.build_initiator_id is None:
            return "-"
        # Entries outlive users (no constraint): a deleted initiator shows as its id.
        user = get_user_model().objects.filter(pk=obj.build_initiator_id).first()
        name = user.username if user else str(obj.build_initiator_id)
        url = reverse("admin:accounts_user_change", args=[obj.build_initiator_id])
        return format_html('<a href="{}">{}</a>', url, name)

    @admin.display(description="changes")
    def diff_display(self, obj: AuditEntry) -> str:
        return diff_table(obj.diff)

    @admin.display(description="additional fields")
    def additional_fields_display(self, obj: AuditEntry) -> str:
        return pretty_json(obj.additional_fields)
