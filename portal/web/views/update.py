"""The workspace page's Update: to the template's active version, asking only what changed."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from portal.errors import ServiceError
from portal.web import parameter_form, workspace_update
from portal.web.access import find_workspace, not_found, signed_in
from workspaces import services
from workspaces.choices import BuildTransition


def _back(workspace):
    return redirect(reverse("web:workspace", args=[workspace.owner.username, workspace.name]))


def _form(request, workspace, update, fields, *, summary="", problems=(), status=200):
    context = {
        "workspace": workspace,
        "version": update.version,
        "fields": fields,
        "summary": summary,
        "problems": list(problems),
    }
    return TemplateResponse(request, "web/update.html", context, status=status)


@require_http_methods(["GET", "POST"])
@signed_in
def update_workspace(request, owner, name):
    """GET: the form of the parameters to ask. POST: build at once when nothing must be asked,
    else show the form; the form's own POST (`asked`) builds with its values."""
    workspace = find_workspace(request.user, owner, name)
    if workspace is None or workspace.deleted_at is not None:
        return not_found(request, f"There is no workspace {owner}/{name} you may see.")
    update = workspace_update.plan(workspace)
    if update.version is None:
        messages.info(request, f"{workspace.name} is already on the template's active version.")
        return _back(workspace)
    if update.refusal:
        messages.error(request, f"Could not update {workspace.name}: {update.refusal}")
        return _back(workspace)
    asked = request.method == "POST" and request.POST.get("asked") == "1"
    if update.ask and not asked:
        return _form(request, workspace, update, parameter_form.build_fields(update.ask))
    values = parameter_form.posted_values(update.ask, request.POST) if asked else {}
    try:
        build = services.create_build(
            workspace,
            actor=request.user,
            transition=BuildTransition.START,
            version=update.version,
            parameters=values,
        )
    except ServiceError as e:
        if not update.ask:
            messages.error(request, f"Could not update {workspace.name}: {e.message}")
            return _back(workspace)
        fields = parameter_form.build_fields(update.ask, values)
        problems = parameter_form.attach_errors(fields, e.validations)
        return _form(
            request,
            workspace,
            update,
            fields,
            summary=e.message,
            problems=problems,
            status=e.status_code,
        )
    messages.success(
        request,
        f"Build #{build.build_number}: {workspace.name} is updating to version "
        f"{update.version.name}.",
    )
    return _back(workspace)
