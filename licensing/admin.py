"""The console's license page: upload (paste or file), delete, entitlements and deployment id."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from licensing import entitlements, services
from licensing.deployment import deployment_id
from licensing.models import License
from portal.admin_site import ReadOnlyAdmin, pretty_json, run_service_per_object
from portal.errors import ServiceError

UPLOAD_TEMPLATE = "admin/licensing/license/upload.html"


class UploadForm(forms.Form):
    license = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80, "spellcheck": "false"}),
        required=False,
        help_text="Paste the license your vendor sent (a JWT), or choose its file below.",
    )
    file = forms.FileField(required=False, label="License file")

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        text = (data.get("license") or "").strip()
        if upload is not None:
            if upload.size > services.MAX_LENGTH:
                raise forms.ValidationError("This file is far too large to be a license.")
            text = upload.read().decode("utf-8", errors="replace").strip()
        if not text:
            raise forms.ValidationError("Paste a license or choose its file.")
        data["text"] = text
        return data


@admin.register(License)
class LicenseAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "features_summary", "license_expires", "exp", "state")
    readonly_fields = (
        "id",
        "uuid",
        "uploaded_at",
        "uploaded_by",
        "license_expires",
        "exp",
        "claims_json",
    )
    fields = readonly_fields
    actions = ["delete_licenses"]

    @admin.display(description="Account")
    def account(self, row):
        return row.claims.get("account_id", "")

    @admin.display(description="Features")
    def features_summary(self, row):
        if row.claims.get("all_features"):
            return "all features"
        granted = [k for k, v in row.claims.get("features", {}).items() if v > 0]
        return ", ".join(sorted(granted)) or "-"

    @admin.display(description="State")
    def state(self, row):
        now = timezone.now()
        if now >= row.exp:
            return "expired"
        if now >= row.license_expires:
            return "grace period"
        return "trial" if row.claims.get("trial") else "active"

    @admin.display(description="Claims")
    def claims_json(self, row):
        return pretty_json(row.claims)

    def has_add_permission(self, request, obj=None):
        return request.user.has_perm("licensing.add_license")

    @admin.action(description="Delete selected licenses", permissions=["remove"])
    def delete_licenses(self, request, queryset):
        run_service_per_object(
            request,
            list(queryset),
            lambda row: services.delete_license(row, actor=request.user),
            done="Deleted",
        )

    def has_remove_permission(self, request):
        return request.user.has_perm("licensing.delete_license")

    def changelist_view(self, request, extra_context=None):
        result = entitlements.current()
        context = {
            "entitlements": result,
            "feature_rows": sorted(result.features.items()),
            "deployment_id": deployment_id(),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    def add_view(self, request, form_url="", extra_context=None):
        """Upload: services.add_license verifies, stores and audits; a refusal says why."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                row = services.add_license(form.cleaned_data["text"], actor=request.user)
            except ServiceError as e:
                reasons = [v.get("detail") for v in e.validations if v.get("detail")]
                form.add_error(None, " ".join(reasons) or f"{e.message} {e.detail}".strip())
            else:
                messages.success(request, f"Uploaded license {row.pk}.")
                return redirect(reverse("admin:licensing_license_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Upload a license",
            "form": form,
            "deployment_id": deployment_id(),
        }
        return TemplateResponse(request, UPLOAD_TEMPLATE, context)
