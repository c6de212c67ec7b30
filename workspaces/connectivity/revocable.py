"""What open workspace connections depend on, for portal.revocation: workspaces, and re-checks."""

from __future__ import annotations

from portal.errors import Conflict, ServiceError
from portal.revocation import tracking
from portal.revocation.announce import announce_resource
from portal.revocation.connection import FORBIDDEN, GONE, Connection, Verdict
from portal.revocation.queries import absent
from portal.revocation.resources import register_resource
from workspaces import port_sharing
from workspaces.audit_types import WorkspaceResourceType
from workspaces.connectivity import connections
from workspaces.models import Workspace, WorkspaceAgent
from workspaces.proxy import ports
from workspaces.proxy.access import authorize
from workspaces.proxy.answers import Refusal
from workspaces.proxy.resolve import APP_PATH

WORKSPACE = "workspace"


def _workspaces_gone(ids: set[str]) -> set[str]:
    return absent(Workspace, "id", ids, '"deleted_at" IS NULL')


def _shares_gone(keys: set[str]) -> set[str]:
    """Which shared ports (port_sharing.share_key) are shared no more."""
    from workspaces.models import WorkspacePortShare

    wanted = {}
    for key in keys:
        workspace_id, agent, port = key.rsplit(":", 2)
        wanted[key] = (workspace_id, agent, int(port))
    rows = WorkspacePortShare.objects.filter(
        workspace_id__in={w for w, _, _ in wanted.values()},
        port__in={p for _, _, p in wanted.values()},
    ).values_list("workspace_id", "agent_name", "port")
    present = {port_sharing.share_key(w, a, p) for w, a, p in rows}
    return set(keys) - present


def install() -> None:
    """Connections may depend on a workspace (workspaces.apps calls this once)."""
    register_resource(
        WORKSPACE,
        gone=_workspaces_gone,
        verdict=Verdict(GONE, "The workspace was deleted.", "workspace_deleted"),
    )
    # A shared port's visitors (not its owner) lose it when the share ends or is lowered.
    register_resource(
        port_sharing.PORT_SHARE,
        gone=_shares_gone,
        verdict=Verdict(FORBIDDEN, "This port is no longer shared.", "port_unshared"),
    )


def announce_workspace_deleted(workspace, *, actor) -> None:
    """After commit: its streams close, and its agents' control sockets (their token died)."""
    agents = WorkspaceAgent.objects.filter(resource__job__build__workspace=workspace)
    announce_resource(
        WORKSPACE,
        workspace.pk,
        actor=actor,
        agents=[str(pk) for pk in agents.values_list("pk", flat=True)],
    )


def _may_still_connect(agent_id, kind: str):
    def recheck(user) -> str | None:
        try:
            agent = connections.agent_for_connection(user, agent_id)
            connections.authorize_connection(user, agent, kind)
        except Conflict:
            return None  # the agent's state (not connected now), not the user's access
        except ServiceError as e:
            return e.message
        return None

    return recheck


def stream(scope, session) -> Connection:
    """A terminal, SSH or port-forward stream (connectivity.relay) opened by `session`."""
    agent = session.agent
    workspace = agent.resource.job.build.workspace
    return tracking.connection(
        scope,
        session.user,
        kind=session.kind,
        resources=((WORKSPACE, str(workspace.pk)),),
        recheck=_may_still_connect(agent.pk, session.kind),
        resource_type=WorkspaceResourceType.WORKSPACE_AGENT,
        resource_id=str(agent.pk),
        resource_target=f"{workspace.owner.username}/{workspace.name}.{agent.name}",
        fields={"workspace_id": str(workspace.pk), "port": session.port},
    )


def _may_still_open_app(match):
    def recheck(user) -> str | None:
        try:
            authorize(match, user)
        except Refusal as e:
            return e.message
        except ServiceError as e:
            return e.message
        return None

    return recheck


def app_socket(scope, user, app, host_match: dict | None) -> Connection:
    """An app's WebSocket through the app proxy (workspaces.proxy.websocket)."""
    return _app_connection(scope, user, app, host_match, kind="app")


def app_response(scope, user, app, host_match: dict | None, target: str = "") -> Connection:
    """An HTTP request to an app and its response (a download, Server-Sent Events...) through
    the app proxy (workspaces.proxy.http): it depends on what the app's WebSockets depend on."""
    return _app_connection(scope, user, app, host_match, kind="app-http", path=target[:200])


def _app_connection(scope, user, app, host_match: dict | None, *, kind: str, **fields):
    workspace = app.agent.resource.job.build.workspace
    match = host_match if host_match is not None else APP_PATH.match(scope["path"])
    resources = [(WORKSPACE, str(workspace.pk))]
    if ports.is_port_app(app) and getattr(user, "pk", None) != workspace.owner_id:
        port = int(app.slug.removeprefix(ports.PORT_LABEL))
        key = port_sharing.share_key(workspace.pk, app.agent.name, port)
        resources.append((port_sharing.PORT_SHARE, key))
    return tracking.connection(
        scope,
        user,
        kind=kind,
        session_cookie=host_match is None,  # an app host's own cookie stands for the user
        resources=tuple(resources),
        recheck=_may_still_open_app(match) if user is not None else None,
        resource_type=WorkspaceResourceType.WORKSPACE_APP,
        resource_id=str(app.pk),
        resource_target=f"{workspace.owner.username}/{workspace.name}/{app.slug}",
        fields={"workspace_id": str(workspace.pk), "agent": app.agent.name, **fields},
    )
