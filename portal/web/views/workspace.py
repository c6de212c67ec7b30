"""The workspace page: live status and build log, resources, agents and apps, and its actions."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from portal.errors import ServiceError
from portal.web import workspace_data
from portal.web.access import find_workspace, not_found, signed_in
from workspaces import services
from workspaces.choices import BuildTransition

ACTIONS = ("start", "stop", "restart", "delete", "update")


def _missing(request, owner, name):
    return not_found(request, f"There is no workspace {owner}/{name} you may see.")


@signed_in
def workspace_page(request, owner, name):
    workspace = find_workspace(request.user, owner, name)
    if workspace is None:
        return _missing(request, owner, name)
    context = {
        **workspace_data.live_context(workspace, request.user),
        **workspace_data.log_context(workspace),
    }
    return TemplateResponse(request, "web/workspace.html", context)


@signed_in
def workspace_live(request, owner, name):
    """Status and actions, plus agents, resources and timeline out of band: for htmx."""
    workspace = find_workspace(request.user, owner, name)
    if workspace is None:
        return _missing(request, owner, name)
    context = workspace_data.live_context(workspace, request.user)
    return TemplateResponse(request, "web/_workspace_refresh.html", context)


def _back(workspace):
    return redirect(reverse("web:workspace", args=[workspace.owner.username, workspace.name]))


@require_POST
@signed_in
def workspace_build(request, owner, name):
    workspace = find_workspace(request.user, owner, name)
    if workspace is None or workspace.deleted_at is not None:
        return _missing(request, owner, name)
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        messages.error(request, f"Unknown action {action[:32]!r}; use one of {', '.join(ACTIONS)}.")
        return _back(workspace)
    if action == "delete" and request.POST.get("confirm_name", "").strip() != workspace.name:
        messages.error(
            request, f"Not deleted: type the workspace name {workspace.name!r} exactly to confirm."
        )
        return _back(workspace)
    transition = {
        "start": BuildTransition.START,
        "update": BuildTransition.START,
        "stop": BuildTransition.STOP,
        "restart": BuildTransition.STOP,
        "delete": BuildTransition.DELETE,
    }[action]
    version = workspace.template.active_version if action == "update" else None
    try:
        if action == "restart":
            # The server starts it again once the stop succeeded: the page may be closed.
            build = services.restart_workspace(workspace, actor=request.user)
        else:
            build = services.create_build(
                workspace, actor=request.user, transition=transition, version=version
            )
    except ServiceError as e:
        messages.error(request, f"Could not {action} {workspace.name}: {e.message}")
        for problem in e.validations:
            messages.error(request, f"{problem.get('field')}: {problem.get('detail')}")
        return _back(workspace)
    done = {
        "start": "is starting",
        "update": f"is updating to version {version.name if version else ''}",
        "stop": "is stopping",
        "restart": "is stopping; it starts again once stopped",
        "delete": "is being deleted",
    }[action]
    messages.success(request, f"Build #{build.build_number}: {workspace.name} {done}.")
    return _back(workspace)


@require_POST
@signed_in
def workspace_cancel(request, owner, name):
    workspace = find_workspace(request.user, owner, name)
    if workspace is None or workspace.latest_build is None:
        return _missing(request, owner, name)
    try:
        build = services.cancel_build(workspace.latest_build, actor=request.user)
    except ServiceError as e:
        messages.error(request, f"Could not cancel: {e.message}")
    else:
        messages.success(request, f"Build #{build.build_number} is {build.job.status}.")
    return _back(workspace)
