"""A listening port opened through the app proxy, as an app: its share level, its URLs.

A port is served like an app (same authorization, proxying, audit and revocation) by an unsaved
WorkspaceApp made here: on its path URL (/@user/ws.agent/ports/PORT/) it is a path app, so its
owner's only; on its port host (PORT--agent--workspace--user.<wildcard domain>) it is a
subdomain app whose share level is the workspace's port share, capped by the template's
max_port_share_level.
"""

from __future__ import annotations

import uuid

from django.db.models import F

from workspaces.choices import AppShareLevel, BuildTransition
from workspaces.models import WorkspaceAgent, WorkspaceApp, WorkspacePortShare

PORT_LABEL = "port-"  # a port app's slug: port-8080 (in audit entries and connection lists)
_ORDER = [AppShareLevel.OWNER, AppShareLevel.AUTHENTICATED, AppShareLevel.PUBLIC]
_NAMESPACE = uuid.UUID("1b7c6a52-0f3e-4c55-9d0c-6a1f0c5e2b11")


def parse_port(text: str | None) -> int | None:
    """The port a URL names (1-65535, digits only), else None."""
    if not text or not text.isdigit() or len(text) > 5:
        return None
    port = int(text)
    return port if 0 < port < 65536 else None


def capped(level: str, maximum: str) -> str:
    """`level`, or the template's maximum if that is lower."""
    return level if _ORDER.index(level) <= _ORDER.index(maximum) else maximum


def port_app(agent: WorkspaceAgent, port: int, *, share: str, on_host: bool) -> WorkspaceApp:
    """The unsaved app standing for `port` of `agent` (its id is stable: the same port of the
    same agent is the same app for tokens, audit and connection lists)."""
    return WorkspaceApp(
        id=uuid.uuid5(_NAMESPACE, f"{agent.pk}:{port}"),
        agent=agent,
        slug=f"{PORT_LABEL}{port}",
        display_name=str(port),
        url=f"http://localhost:{port}",
        share=share,
        subdomain=on_host,
    )


def lookup(match, *, by_host: bool) -> list[WorkspaceApp]:
    """Up to two port apps `match` names (one per agent it may mean), like resolve.lookup."""
    get = match.get if by_host else match.__getitem__
    port = parse_port(get("port"))
    parts = [get("user"), get("workspace"), get("agent") or ""]
    if port is None or any("\x00" in p for p in parts):
        return []
    build = "resource__job__build"
    agents = WorkspaceAgent.objects.filter(
        **{
            f"{build}__transition": BuildTransition.START,
            f"{build}__workspace__latest_build": F(build),
            f"{build}__workspace__deleted_at__isnull": True,
            f"{build}__workspace__name__iexact": get("workspace"),
            f"{build}__workspace__owner__username__iexact": get("user"),
        },
    ).select_related(f"{build}__workspace__owner", f"{build}__workspace__template")
    if get("agent"):
        agents = agents.filter(**{"name__iexact" if by_host else "name": get("agent")})
    found = list(agents.order_by("pk")[:2])
    shares = {}
    if found and by_host:
        workspace = found[0].resource.job.build.workspace
        for share in WorkspacePortShare.objects.filter(workspace=workspace, port=port):
            shares[share.agent_name.lower()] = share.share_level
    apps = []
    for agent in found:
        share = AppShareLevel.OWNER
        if by_host and agent.name.lower() in shares:
            template = agent.resource.job.build.workspace.template
            share = capped(shares[agent.name.lower()], template.max_port_share_level)
        apps.append(port_app(agent, port, share=share, on_host=by_host))
    return apps


def is_port_app(app: WorkspaceApp) -> bool:
    return app._state.adding and app.slug.startswith(PORT_LABEL)
