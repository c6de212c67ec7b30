"""The template page's access list in the console, with a link to change it (the service)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from enterprise.template_acl.models import TemplateACL
from portal import policy
from portal.admin_site import ReadOnlyInline
from templates_app.admin import add_inline


class TemplateACLInline(ReadOnlyInline):
    """Who may use and administer the template; "Manage access" changes it (audited)."""

    model = TemplateACL
    fk_name = "template"
    fields = ("subject", "kind", "role")
    readonly_fields = fields
    verbose_name = "access entry"
    verbose_name_plural = "access (template ACL)"
    show_change_link = False
    template = "admin/template_acl/acl_inline.html"

    def has_view_permission(self, request, obj=None):
        # Whoever may see the template page sees its ACL (template.read_all).
        return policy.can(request.user, "read", "template")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "group")

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.manage_url = (
            reverse("template_acl:manage", args=[obj.pk])
            if obj is not None and policy.can(request.user, "update", obj)
            else ""
        )
        return formset

    @admin.display(description="user or group")
    def subject(self, entry: TemplateACL) -> str:
        if entry.user_id:
            return format_html("{} <small>{}</small>", entry.user.username, entry.user.name)
        return format_html("{} <small>{}</small>", entry.group.name, entry.group.display_name)

    @admin.display(description="kind")
    def kind(self, entry: TemplateACL) -> str:
        return "user" if entry.user_id else "group"


add_inline(TemplateACLInline)
