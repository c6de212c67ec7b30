"""Create a workspace: a form generated from the template's active version, checked server-side."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods

from portal import hooks
from portal.errors import ServiceError
from portal.external_auth import queries as external_auth_queries
from portal.web import parameter_form
from portal.web.access import not_found, signed_in
from templates_app import deprecation
from templates_app import queries as template_queries
from templates_app.models import ImportStatus
from workspaces import services


def _page(request, template, fields, *, name="", errors=None, problems=(), summary="", status=200):
    version = template.active_version
    context = {
        "template": template,
        "version": version,
        "fields": fields,
        "name": name,
        "name_error": (errors or {}).get("name", ""),
        "problems": list(problems),
        "summary": summary,
        "daily_cost": version.daily_cost if version else 0,
        "budget": _budget(request.user),
    }
    required = external_auth_queries.required_statuses(
        request.user, version.external_auth if version else []
    )
    context["external_auth"] = required
    context["unlinked"] = [
        r["status"].provider.display_name if r["status"] else r["id"]
        for r in required
        if r["missing"]
    ]
    return TemplateResponse(request, "web/create.html", context, status=status)


def _budget(user) -> dict | None:
    """What the user's workspaces cost a day and may cost (the cost_budget hook), if any."""
    for handler in hooks.cost_budget.handlers():
        answer = handler(user)
        if answer is not None:
            consumed, budget = answer
            return {"consumed": consumed, "budget": budget, "remaining": max(budget - consumed, 0)}
    return None


@require_http_methods(["GET", "POST"])
@signed_in
def create_workspace(request, template):
    found = (
        template_queries.visible_to(request.user)
        .select_related("active_version")
        .filter(name=template)
        .first()
    )
    if found is None:
        return not_found(request, f"There is no template {template!r} you may use.")
    version = found.active_version
    if version is None or version.import_status != ImportStatus.SUCCEEDED:
        messages.error(request, f"Template {found.name!r} has no usable version yet.")
        return redirect("web:templates")
    if refusal := deprecation.creation_refusal(found, version):
        messages.error(request, f"{refusal} It takes no new workspaces.")
        return redirect("web:templates")
    schema = version.parameters_schema or []
    if request.method == "GET":
        return _page(request, found, parameter_form.build_fields(schema))

    name = request.POST.get("name", "").strip()
    values = parameter_form.posted_values(schema, request.POST)
    try:
        workspace = services.create_workspace(
            actor=request.user,
            owner=request.user,
            template=found,
            name=name,
            parameters=values,
            version=version,
        )
    except ServiceError as e:
        fields = parameter_form.build_fields(schema, values)
        rest = parameter_form.attach_errors(fields, e.validations)
        errors = {p["field"]: p["detail"] for p in rest if p.get("field") == "name"}
        problems = [p for p in rest if p.get("field") != "name"]
        return _page(
            request,
            found,
            fields,
            name=name,
            errors=errors,
            problems=problems,
            summary=e.message,
            status=e.status_code,
        )
    messages.success(request, f"Workspace {workspace.name} is being built.")
    return redirect("web:workspace", owner=request.user.username, name=workspace.name)
