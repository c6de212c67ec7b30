"""The audit log in the operator console (core's AuditEntry): read-only, filters, search, export.

Behind the `audit_log` gate: with it off every page of it is a 403 naming the feature and the
license (entries are still recorded by core).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from enterprise.audit import gate, search
from portal.admin_paging import big_list
from portal.admin_site import DateTimeInputFilter, ReadOnlyAdmin, diff_table, pretty_json
from portal.audit import types
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
@big_list  # the log only grows: estimated counts, never a COUNT(*) of it
class AuditEntryAdmin(ReadOnlyAdmin):
    change_list_template = "admin/audit_log/change_list.html"
    list_display = (
        "time",
        "actor_username",
        "action_label",
        "resource_type_label",
        "resource_target",
        "status_code",
        "ip",
        "request_id",
    )
    list_display_links = ("time",)
    # Only filters whose choices need no query: a sidebar of every username, status or build
    # reason is a SELECT DISTINCT over the whole log. Those are search keys (username:,
    # status:, build_reason:), and ?actor_username= / ?build_reason= links still work.
    list_filter = ("action", "resource_type", SinceFilter, UntilFilter)
    # The search box speaks enterprise.audit.search's syntax (get_search_results); a field is
    # named only so that Django shows the box.
    search_fields = ("resource_target",)
    search_help_text = (
        "Filters: action: resource_type: resource_id: username: email: date_from: date_to: "
        'build_reason: status: (403 or 4xx); quote values with spaces ("a b"); other words '
        "match the target, username, resource id or request id."
    )
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

    # Not the fields themselves: Django would rebuild each field's (registry-made) choices for
    # every row shown, a fifth of the page's time.
    @admin.display(description="action", ordering="action")
    def action_label(self, obj: AuditEntry) -> str:
        return dict(types.action_choices()).get(obj.action, obj.action)

    @admin.display(description="resource type", ordering="resource_type")
    def resource_type_label(self, obj: AuditEntry) -> str:
        return dict(types.resource_type_choices()).get(obj.resource_type, obj.resource_type)

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

    def get_search_results(self, request, queryset, search_term):
        try:
            parsed = search.parse(search_term)
        except search.SearchError as error:
            messages.error(request, error.message)
            return queryset.none(), False
        return search.apply(queryset, parsed), False

    def _refused(self, request):
        context = {**self.admin_site.each_context(request), "title": "Audit log", "opts": self.opts}
        context["refusal"] = gate.refusal()
        return TemplateResponse(request, "admin/audit_log/refused.html", context, status=403)

    def changelist_view(self, request, extra_context=None):
        if not gate.enabled():
            return self._refused(request)
        query = urlencode({"q": request.GET.get("q", "")})
        extra_context = {
            **(extra_context or {}),
            "export_links": [
                (fmt.upper(), f"{reverse('api:audit-export')}?{query}&format={fmt}")
                for fmt in ("csv", "ndjson")
            ],
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not gate.enabled():
            return self._refused(request)
        return super().change_view(request, object_id, form_url, extra_context)
