"""What the workspace page shows: builds, the latest build's log, resources, agents and apps."""

from __future__ import annotations

from django.utils import timezone

from portal import policy
from portal.web import log_text, workspace_update
from portal.web.workspace_schedule import schedule_context
from portal_shared import ide_links
from templates_app import deprecation
from workspaces import services as workspace_services
from workspaces.choices import JOB_ACTIVE, BuildTransition, WorkspaceStatus
from workspaces.connectivity.agents import agent_status
from workspaces.connectivity.connections import policy_refusal
from workspaces.connectivity.listening_ports import listening_ports
from workspaces.models import WorkspaceAgentLog, WorkspaceBuild
from workspaces.proxy import hosts as app_hosts
from workspaces.queries import current_resources, port_shares

TIMELINE_BUILDS = 10
AGENT_LOG_LINES = 200


def _ide_links(workspace, agent) -> list[dict]:
    """Desktop IDE links to the agent `ssh portal.<workspace>` reaches, once it has started."""
    folder = agent.expanded_directory
    if not folder:
        return []
    host = ide_links.ssh_host(workspace.name)
    user = workspace.owner.username
    return [
        {"ide": ide, "label": label, "href": ide_links.link(ide, host, folder, user)}
        for ide, label in ide_links.IDES.items()
    ]


def _ports(workspace, agent, shares: dict) -> list[dict]:
    """The agent's listening ports, with where each opens and how it is shared."""
    names = (agent.name, workspace.name, workspace.owner.username)
    ports = []
    for entry in listening_ports(agent):
        urls = app_hosts.port_urls(entry["port"], *names)
        share = shares.get((agent.name.lower(), entry["port"]))
        # On this page's own host, as app links are: the session cookie goes along.
        href = "/" + urls["path"].split("/", 3)[3]
        ports.append({**entry, "href": href, "host_url": urls["host"], "share": share})
    return ports


def _agents(workspace, resources, now) -> list[dict]:
    several = sum(len(r.agents.all()) for r in resources) > 1
    owner = workspace.owner.username
    shares = {(s.agent_name.lower(), s.port): s for s in port_shares(workspace)}
    agents = []
    for resource in resources:
        for agent in resource.agents.all():
            suffix = f".{agent.name}" if several else ""
            rows = list(
                WorkspaceAgentLog.objects.filter(agent=agent)
                .order_by("-id")
                .values_list("id", "output")[:AGENT_LOG_LINES]
            )
            agents.append(
                {
                    "agent": agent,
                    "status": agent_status(agent, now),
                    "apps": [
                        {
                            "app": app,
                            "href": f"/@{owner}/{workspace.name}{suffix}/apps/{app.slug}/",
                            # A subdomain app's path sends the browser to its own host.
                            "proxied": not app.command
                            and bool(app.url)
                            and (not app.subdomain or app_hosts.wildcard() is not None),
                        }
                        for app in agent.apps.all()
                    ],
                    "ports": _ports(workspace, agent, shares),
                    "log": "\n".join(output for _, output in reversed(rows)),
                    # Where the page's startup-log WebSocket carries on from.
                    "log_after": rows[0][0] if rows else 0,
                    # config-ssh's one host per workspace reaches its first agent.
                    "ide_links": [] if agents else _ide_links(workspace, agent),
                }
            )
    return agents


def live_context(workspace, user) -> dict:
    """The parts of the page that change while builds run and agents connect."""
    now = timezone.now()
    build = workspace.latest_build
    status = workspace.status if workspace.deleted_at is None else WorkspaceStatus.DELETED
    resources = current_resources(workspace) if workspace.deleted_at is None else []
    agents = _agents(workspace, resources, now)
    shared = list(port_shares(workspace)) if workspace.deleted_at is None else []
    active_version = workspace.template.active_version
    update = workspace_update.plan(workspace)
    builds = list(
        WorkspaceBuild.objects.filter(workspace=workspace)
        .select_related("job", "initiator", "template_version")
        .order_by("-build_number")[:TIMELINE_BUILDS]
    )
    return {
        "workspace": workspace,
        "status": status,
        "build": build,
        "build_active": build is not None and build.job.status in JOB_ACTIVE,
        "builds": builds,
        "resources": [
            {"resource": r, "metadata": _metadata(r, reveal=user.pk == workspace.owner_id)}
            for r in resources
            if not r.hide
        ],
        "agents": agents,
        "port_shares": shared,
        "wildcard_apps": app_hosts.wildcard() is not None,
        "max_port_share_level": workspace.template.max_port_share_level,
        "may_manage": policy.can(user, "build", workspace) and workspace.deleted_at is None,
        "is_owner": user.pk == workspace.owner_id,
        "update_available": update.version is not None,
        "update": update,
        "active_version": active_version,
        # Existing workspaces keep building on a deprecated template; their page says so.
        "deprecation_warning": deprecation.warning(
            workspace.template, build.template_version if build else None
        ),
        "stopped_like": status
        in {WorkspaceStatus.STOPPED, WorkspaceStatus.FAILED, WorkspaceStatus.CANCELED},
        "daily_cost": build.daily_cost if build else 0,
        "start": BuildTransition.START,
        # The deployment may allow no SSH (browser-only mode): say so instead of the commands.
        "ssh_refusal": policy_refusal(user, "ssh"),
        # Why it cannot start or update (the policy's "use" of its template), shown instead.
        "start_refusal": None
        if workspace.deleted_at
        else workspace_services.start_refusal(workspace),
        **schedule_context(workspace, now),
    }


def _metadata(resource, *, reveal: bool) -> list[dict]:
    return [
        {
            "key": item.get("key", ""),
            "value": item.get("value") if reveal or not item.get("sensitive") else None,
            "sensitive": bool(item.get("sensitive")),
        }
        for item in resource.metadata or []
    ]


def log_context(workspace) -> dict:
    """The latest build's log so far, and where its WebSocket should carry on from."""
    build = workspace.latest_build
    if build is None:
        return {"log_build": None, "log_text": "", "log_after": 0, "log_active": False}
    text, last_id = log_text.job_log(build.job_id)
    return {
        "log_build": build,
        "log_text": text,
        "log_after": last_id,
        "log_active": build.job.status in JOB_ACTIVE,
    }
