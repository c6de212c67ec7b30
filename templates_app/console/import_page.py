"""A version's import in the console: its log, live while it runs, and what to do next."""

from __future__ import annotations

from django import forms
from django.apps import apps
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from portal import policy
from portal.errors import ServiceError
from templates_app import services
from templates_app.console import access, errors, links
from templates_app.console.display import job_url
from templates_app.models import ImportStatus, TemplateVersion, template_name_validator

PAGE = "admin/templates_app/authoring/import.html"
# The page shows the end of a long log; the job's log page pages through all of it.
LOG_LINES = 1000
RUNNING = (ImportStatus.PENDING, ImportStatus.RUNNING)


class CreateTemplateForm(forms.Form):
    name = forms.CharField(
        max_length=32,
        validators=[template_name_validator],
        help_text="1-32 lowercase letters, digits or '-'.",
    )
    display_name = forms.CharField(required=False, max_length=64)


def _log_lines(version: TemplateVersion) -> tuple[list[dict], int]:
    """The last lines of the import job's log, oldest first, and the id to follow after."""
    if version.import_job_id is None:
        return [], 0
    # Looked up by name: workspaces depends on templates_app, never the reverse.
    log_model = apps.get_model("workspaces", "ProvisionerJobLog")
    rows = list(
        log_model.objects.filter(job_id=version.import_job_id)
        .order_by("-id")
        .values("id", "level", "stage", "output")[:LOG_LINES]
    )
    rows.reverse()
    return rows, rows[-1]["id"] if rows else 0


def _version(model_admin, request, object_id) -> TemplateVersion:
    version = get_object_or_404(
        model_admin.get_queryset(request).select_related("template__active_version"),
        pk=object_id,
    )
    access.require_version_change(request, version)
    return version


def _context(model_admin, request, version: TemplateVersion, create_form) -> dict:
    lines, last_id = _log_lines(version)
    template = version.template
    succeeded = version.import_status == ImportStatus.SUCCEEDED
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Import of {links.version_label(version)}",
        "version": version,
        "template": template,
        "running": version.import_status in RUNNING,
        "lines": lines,
        "last_id": last_id,
        "job_log_url": job_url("log", version.import_job_id) if version.import_job_id else None,
        "may_promote": bool(
            template
            and succeeded
            and not version.deprecated
            and template.active_version_id != version.pk
        ),
        "is_active": bool(template and template.active_version_id == version.pk),
        "create_form": create_form
        if template is None and succeeded and policy.can(request.user, "create", "template")
        else None,
    }


def import_view(model_admin, request, object_id):
    """The import's status and log (followed over the logs WebSocket by the page's script)."""
    version = _version(model_admin, request, object_id)
    create_form = CreateTemplateForm(initial={"name": request.GET.get("template_name", "")})
    context = _context(model_admin, request, version, create_form)
    return TemplateResponse(request, PAGE, context)


def create_template_view(model_admin, request, object_id):
    """A template from a version of none that imported (create_template decides)."""
    version = _version(model_admin, request, object_id)
    if not policy.can(request.user, "create", "template"):
        raise PermissionDenied
    if request.method != "POST":
        return redirect("admin:templates_app_templateversion_import", version.pk)
    form = CreateTemplateForm(request.POST)
    if form.is_valid():
        try:
            template = services.create_template(
                actor=request.user,
                name=form.cleaned_data["name"],
                display_name=form.cleaned_data["display_name"],
                version=version,
            )
        except ServiceError as e:
            errors.show(form, e, {"version_id": "name"})
        else:
            messages.success(request, f"Created template {template.name} from {version.name}.")
            return redirect(reverse("admin:templates_app_template_change", args=[template.pk]))
    context = _context(model_admin, request, version, form)
    if context["create_form"] is None:
        context["create_form"] = form  # its errors say why (e.g. the import has not finished)
    return TemplateResponse(request, PAGE, context)
