"""Operator console for SCIM keys: owners create one (its secret shown once) and revoke them."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse

from enterprise.scim import keys
from enterprise.scim.models import ScimKey
from portal import policy
from portal.admin_site import ReadOnlyAdmin, run_service_per_object
from portal.errors import ServiceError

SERVICE_FORM_TEMPLATE = "admin/portal/service_form.html"


class CreateKeyForm(forms.Form):
    name = forms.CharField(
        max_length=64, help_text="Who uses it, e.g. okta or entra-2026 (a new name to rotate)."
    )


class LiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "live":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ScimKey)
class ScimKeyAdmin(ReadOnlyAdmin):
    list_display = ("name", "state", "created_by", "created_at", "last_used_at", "revoked_at")
    list_filter = (LiveFilter,)
    list_select_related = ("created_by",)
    # The secret's hash stays out of the console.
    fields = ("name", "created_by", "created_at", "last_used_at", "revoked_at", "id")
    readonly_fields = fields
    actions = ("revoke_keys",)

    # The policy decides, not Django's model permissions (SCIM keys are for owners only).
    def has_module_permission(self, request):
        return policy.can(request.user, "read", "scim_key")

    def has_view_permission(self, request, obj=None):
        return policy.can(request.user, "read", "scim_key")

    def has_add_permission(self, request, obj=None):
        return policy.can(request.user, "create", "scim_key")

    def has_revoke_permission(self, request) -> bool:
        return policy.can(request.user, "delete", "scim_key")

    @admin.display(description="state")
    def state(self, obj: ScimKey) -> str:
        return "live" if obj.live else "revoked"

    @admin.action(description="Revoke selected keys", permissions=["revoke"])
    def revoke_keys(self, request, queryset):
        run_service_per_object(
            request,
            queryset.filter(revoked_at__isnull=True),
            lambda key: keys.revoke_key(key, actor=request.user),
            done="Revoked",
            label=lambda key: key.name,
        )

    def add_view(self, request, form_url="", extra_context=None):
        """Create a key through keys.create_key, then show its secret on this page, once."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CreateKeyForm(request.POST or None)
        context = {**self.admin_site.each_context(request), "opts": self.opts}
        if request.method == "POST" and form.is_valid():
            try:
                key, secret = keys.create_key(actor=request.user, name=form.cleaned_data["name"])
            except ServiceError as e:
                form.add_error("name", e.validations[0]["detail"] if e.validations else e.message)
            else:
                url = request.build_absolute_uri(reverse("scim:root")).rstrip("/")
                context.update(title="SCIM key created", key=key, secret=secret, scim_url=url)
                response = TemplateResponse(request, "admin/scim/key_created.html", context)
                response["Cache-Control"] = "no-store"
                return response
        context.update(title="Add SCIM key", form=form, submit_label="Create key")
        return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)
