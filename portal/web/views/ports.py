"""The workspace page's Ports card form: share a listening port, change its level, or stop."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from portal.errors import ServiceError
from portal.web.access import find_workspace, not_found, signed_in
from workspaces import port_sharing

LEVELS = ("owner", "authenticated", "public")


@require_POST
@signed_in
def workspace_port_share(request, owner, name):
    workspace = find_workspace(request.user, owner, name)
    if workspace is None or workspace.deleted_at is not None:
        return not_found(request, f"There is no workspace {owner}/{name} you may see.")
    back = redirect(reverse("web:workspace", args=[workspace.owner.username, workspace.name]))
    agent = request.POST.get("agent", "")
    level = request.POST.get("level", "")
    try:
        port = int(request.POST.get("port", ""))
    except ValueError:
        port = 0
    if level not in LEVELS:
        messages.error(request, f"Unknown share level {level[:32]!r}; use one of {LEVELS}.")
        return back
    try:
        if level == "owner":
            port_sharing.unshare_port(workspace, actor=request.user, agent_name=agent, port=port)
            messages.success(request, f"Port {port} is no longer shared.")
        else:
            port_sharing.share_port(
                workspace, actor=request.user, agent_name=agent, port=port, share_level=level
            )
            who = "anyone" if level == "public" else "signed-in users"
            messages.success(request, f"Port {port} is shared with {who}, on its own host.")
    except ServiceError as e:
        messages.error(request, f"Port {port} not changed: {e.message}")
    return back
