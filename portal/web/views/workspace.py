"""The workspace page: live status and build log, resources, agents and apps, and its actions."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from portal.errors import ServiceError, ValidationFailed
from portal.web import workspace_data
from portal.web.access import find_workspace, not_found, signed_in
from portal.web.workspace_schedule import EXTEND_CHOICES
from templates_app import scheduling
from workspaces import dormancy, schedule_services, services
from workspaces.choices import BuildTransition

# Update has its own view (portal/web/views/update.py): it may have parameters to ask.
ACTIONS = ("start", "stop", "restart", "delete")


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
        "stop": BuildTransition.STOP,
        "restart": BuildTransition.STOP,
        "delete": BuildTransition.DELETE,
    }[action]
    try:
        if action == "restart":
            # The server starts it again once the stop succeeded: the page may be closed.
            build = services.restart_workspace(workspace, actor=request.user)
        else:
            build = services.create_build(workspace, actor=request.user, transition=transition)
    except ServiceError as e:
        messages.error(request, f"Could not {action} {workspace.name}: {e.message}")
        for problem in e.validations:
            messages.error(request, f"{problem.get('field')}: {problem.get('detail')}")
        return _back(workspace)
    done = {
        "start": "is starting",
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


@require_POST
@signed_in
def workspace_schedule(request, owner, name):
    """The schedule card's form: autostart (cron + zone) and TTL, through the services."""
    workspace = find_workspace(request.user, owner, name)
    if workspace is None or workspace.deleted_at is not None:
        return _missing(request, owner, name)
    rules = scheduling.effective(workspace.template)
    try:
        with transaction.atomic():  # both or neither
            if rules.allow_user_autostart and "schedule" in request.POST:
                schedule_services.set_autostart(
                    workspace,
                    actor=request.user,
                    schedule_text=request.POST.get("schedule", "").strip(),
                    tz=request.POST.get("tz", "").strip() or None,
                )
            if rules.allow_user_autostop and "ttl_hours" in request.POST:
                schedule_services.set_ttl(
                    workspace, actor=request.user, ttl_seconds=_ttl(request.POST["ttl_hours"])
                )
    except ServiceError as e:
        messages.error(request, f"Schedule not saved: {e.message}")
        return _back(workspace)
    messages.success(request, f"Schedule of {workspace.name} saved.")
    return _back(workspace)


@require_POST
@signed_in
def workspace_reactivate(request, owner, name):
    """The dormant banner's Reactivate button, through the dormancy service."""
    workspace = find_workspace(request.user, owner, name)
    if workspace is None or workspace.deleted_at is not None:
        return _missing(request, owner, name)
    try:
        dormancy.set_dormant(workspace, actor=request.user, dormant=False)
    except ServiceError as e:
        messages.error(request, f"Could not reactivate {workspace.name}: {e.message}")
    else:
        messages.success(request, f"{workspace.name} is active again; you can start it.")
    return _back(workspace)


def _ttl(text: str) -> int | None:
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        hours = float(text)
    except ValueError:
        raise ValidationFailed.field("ttl_ms", f"{text[:20]!r} is not a number of hours.") from None
    if not 0 < hours <= 720:
        raise ValidationFailed.field("ttl_ms", "Give between 1 minute and 720 hours.")
    return round(hours * 3600)


@require_POST
@signed_in
def workspace_extend(request, owner, name):
    """The schedule card's Extend: the running build's stop moves later (the service checks)."""
    workspace = find_workspace(request.user, owner, name)
    if workspace is None or workspace.deleted_at is not None:
        return _missing(request, owner, name)
    try:
        hours = int(request.POST.get("hours", ""))
    except ValueError:
        hours = 0
    if hours not in EXTEND_CHOICES:
        messages.error(request, f"Not extended: choose one of {EXTEND_CHOICES} hours.")
        return _back(workspace)
    build = workspace.latest_build
    # From the current stop time when there is one in the future, so "+1 h" adds an hour.
    base = max(build.deadline, timezone.now()) if build and build.deadline else timezone.now()
    try:
        build = schedule_services.extend_deadline(
            workspace, actor=request.user, deadline=base + timedelta(hours=hours)
        )
    except ServiceError as e:
        messages.error(request, f"Not extended: {e.message}")
        for problem in e.validations:
            messages.error(request, problem.get("detail", ""))
        return _back(workspace)
    messages.success(request, f"{workspace.name} now stops {hours} h later.")
    return _back(workspace)
