"""Operator console for provisioner keys: owners create one (its secret shown once), revoke."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from enterprise.provisioner_daemons import keys
from enterprise.provisioner_daemons.models import ProvisionerKey
from portal import policy
from portal.admin_site import ReadOnlyAdmin, run_service_per_object
from portal.errors import ServiceError
from workspaces.builds.dispatch import format_tags

SERVICE_FORM_TEMPLATE = "admin/portal/service_form.html"


class CreateKeyForm(forms.Form):
    name = forms.CharField(max_length=64, help_text="Which daemons use it, e.g. eu-runners.")
    tags = forms.CharField(
        required=False,
        help_text="The tags its daemons may serve, as key=value, comma-separated (pool=eu).",
    )

    def clean_tags(self) -> dict[str, str]:
        tags = {}
        for item in filter(None, (p.strip() for p in self.cleaned_data["tags"].split(","))):
            name, sep, value = item.partition("=")
            if not sep or not name.strip() or not value.strip():
                raise forms.ValidationError(f"{item!r}: a tag is key=value.")
            tags[name.strip()] = value.strip()
        return tags


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


@admin.register(ProvisionerKey)
class ProvisionerKeyAdmin(ReadOnlyAdmin):
    list_display = ("name", "tags_display", "state", "created_by", "created_at", "last_used_at")
    list_filter = (LiveFilter,)
    list_select_related = ("created_by",)
    fields = ("name", "tags", "created_by", "created_at", "last_used_at", "revoked_at", "id")
    readonly_fields = fields
    actions = ("revoke_keys",)

    def has_module_permission(self, request):
        return policy.can(request.user, "read", "provisioner_key")

    def has_view_permission(self, request, obj=None):
        return policy.can(request.user, "read", "provisioner_key")

    def has_add_permission(self, request, obj=None):
        return policy.can(request.user, "create", "provisioner_key")

    def has_revoke_permission(self, request) -> bool:
        return policy.can(request.user, "delete", "provisioner_key")

    @admin.display(description="tags")
    def tags_display(self, obj: ProvisionerKey) -> str:
        return format_tags(obj.tags)

    @admin.display(description="state")
    def state(self, obj: ProvisionerKey) -> str:
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
                key, secret = keys.create_key(
                    actor=request.user,
                    name=form.cleaned_data["name"],
                    tags=form.cleaned_data["tags"],
                )
            except ServiceError as e:
                field = e.validations[0]["field"] if e.validations else "name"
                form.add_error(
                    field if field in form.fields else None,
                    e.validations[0]["detail"] if e.validations else e.message,
                )
            else:
                context.update(
                    title="Provisioner key created",
                    key=key,
                    secret=secret,
                    tags=format_tags(key.tags),
                    url=settings.PORTAL_ACCESS_URL,
                )
                response = TemplateResponse(
                    request, "admin/provisioner_daemons/key_created.html", context
                )
                response["Cache-Control"] = "no-store"
                return response
        context.update(title="Add provisioner key", form=form, submit_label="Create key")
        return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)
