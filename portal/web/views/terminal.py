"""A web terminal (xterm.js) on one agent: a PTY stream that survives reloading the page."""

from __future__ import annotations

from django.template.response import TemplateResponse

from portal.web.access import find_workspace, not_found, signed_in
from workspaces.connectivity.agents import agent_status
from workspaces.queries import current_resources


@signed_in
def terminal_page(request, owner, name, agent):
    workspace = find_workspace(request.user, owner, name)
    if workspace is None or workspace.deleted_at is not None:
        return not_found(request, f"There is no workspace {owner}/{name} you may see.")
    found = None
    for resource in current_resources(workspace):
        for candidate in resource.agents.all():
            if candidate.name == agent:
                found = candidate
    if found is None:
        return not_found(request, f"Workspace {workspace.name} has no agent {agent!r} now.")
    context = {
        "workspace": workspace,
        "agent": found,
        "agent_status": agent_status(found),
        "is_owner": request.user.pk == workspace.owner_id,
        "stream_path": f"/api/v2/workspaceagents/{found.id}/streams",
    }
    return TemplateResponse(request, "web/terminal.html", context)
