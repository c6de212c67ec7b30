"""Promoting a version to its template's active one from the console (update_template decides)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from portal.errors import Conflict, ServiceError
from templates_app import services
from templates_app.console.display import may_manage_templates
from templates_app.models import Template, TemplateVersion

SERVICE_FORM_TEMPLATE = "admin/portal/service_form.html"


def promote(version: TemplateVersion, *, actor) -> Template:
    """Make `version` its template's active version through the service (checked there)."""
    if version.template_id is None:
        raise Conflict(
            f"Version {version.name!r} belongs to no template; there is none to promote."
        )
    return services.update_template(version.template, actor=actor, active_version=version)


class PromoteForm(forms.Form):
    version = forms.ChoiceField(help_text="The version new workspaces and start builds will use.")

    def __init__(self, *args, versions, **kwargs):
        super().__init__(*args, **kwargs)
        self.versions = {str(v.pk): v for v in versions}
        self.fields["version"].choices = [
            (str(v.pk), f"{v.name} ({v.import_status})") for v in versions
        ]

    def chosen(self) -> TemplateVersion:
        return self.versions[self.cleaned_data["version"]]


def promote_view(model_admin, request, object_id):
    """Choose a version and make it the active one (update_template decides if it may be)."""
    if not (model_admin.has_view_permission(request) and may_manage_templates(request)):
        raise PermissionDenied
    template = get_object_or_404(Template.objects.select_related("active_version"), pk=object_id)
    versions = list(
        template.versions.only("id", "name", "import_status", "template_id").order_by("-created_at")
    )
    back = reverse("admin:templates_app_template_change", args=[template.pk])
    initial = {"version": request.GET.get("version", str(template.active_version_id or ""))}
    form = PromoteForm(request.POST or None, initial=initial, versions=versions)
    if request.method == "POST" and form.is_valid():
        version = form.chosen()
        try:
            promote(version, actor=request.user)
        except ServiceError as e:
            detail = f" {e.detail}" if e.detail else ""
            messages.error(request, f"{version.name}: {e.message}{detail}")
        else:
            messages.success(request, f"Promoted {version.name} to active version.")
            return redirect(back)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Promote a version of {template.name}",
        "form": form,
        "submit_label": "Promote",
        "objects": [template],
        "objects_intro": "Template:",
        "hidden": [],
    }
    return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)
