"""What open workspace connections depend on, for portal.revocation: workspaces, and re-checks."""

from __future__ import annotations

from portal import revocation
from portal.audit.choices import ResourceType
from portal.errors import Conflict, ServiceError

WORKSPACE = "workspace"


def _workspaces_gone(ids: set[str]) -> set[str]:
    from workspaces.models import Workspace

    return revocation.absent(Workspace, "id", ids, '"deleted_at" IS NULL')


def install() -> None:
    """Connections may depend on a workspace (workspaces.apps calls this once)."""
    revocation.register_resource(
        WORKSPACE,
        gone=_workspaces_gone,
        verdict=revocation.Verdict(
            revocation.GONE, "The workspace was deleted.", "workspace_deleted"
        ),
    )


def announce_workspace_deleted(workspace, *, actor) -> None:
    """After commit: its streams close, and its agents' control sockets (their token died)."""
    from workspaces.models import WorkspaceAgent

    agents = WorkspaceAgent.objects.filter(resource__job__build__workspace=workspace)
    revocation.announce_resource(
        WORKSPACE,
        workspace.pk,
        actor=actor,
        agents=[str(pk) for pk in agents.values_list("pk", flat=True)],
    )


def _may_still_connect(agent_id, kind: str):
    def recheck(user) -> str | None:
        from workspaces.connectivity import connections

        try:
            agent = connections.agent_for_connection(user, agent_id)
            connections.authorize_connection(user, agent, kind)
        except Conflict:
            return None  # the agent's state (not connected now), not the user's access
        except ServiceError as e:
            return e.message
        return None

    return recheck


def stream(scope, session) -> revocation.Connection:
    """A terminal, SSH or port-forward stream (connectivity.relay) opened by `session`."""
    agent = session.agent
    workspace = agent.resource.job.build.workspace
    return revocation.connection(
        scope,
        session.user,
        kind=session.kind,
        resources=((WORKSPACE, str(workspace.pk)),),
        recheck=_may_still_connect(agent.pk, session.kind),
        resource_type=ResourceType.WORKSPACE_AGENT,
        resource_id=str(agent.pk),
        resource_target=f"{workspace.owner.username}/{workspace.name}.{agent.name}",
        fields={"workspace_id": str(workspace.pk), "port": session.port},
    )


def _may_still_open_app(match):
    def recheck(user) -> str | None:
        from workspaces.app_proxy import Refusal, authorize

        try:
            authorize(match, user)
        except Refusal as e:
            return e.message
        except ServiceError as e:
            return e.message
        return None

    return recheck


def app_socket(scope, user, app, host_match: dict | None) -> revocation.Connection:
    """An app's WebSocket through the app proxy (workspaces.app_proxy_ws)."""
    return _app_connection(scope, user, app, host_match, kind="app")


def app_response(
    scope, user, app, host_match: dict | None, target: str = ""
) -> revocation.Connection:
    """An HTTP request to an app and its response (a download, Server-Sent Events...) through
    the app proxy (workspaces.app_proxy): it depends on what the app's WebSockets depend on."""
    return _app_connection(scope, user, app, host_match, kind="app-http", path=target[:200])


def _app_connection(scope, user, app, host_match: dict | None, *, kind: str, **fields):
    from workspaces.app_proxy import APP_PATH

    workspace = app.agent.resource.job.build.workspace
    match = host_match if host_match is not None else APP_PATH.match(scope["path"])
    return revocation.connection(
        scope,
        user,
        kind=kind,
        session_cookie=host_match is None,  # an app host's own cookie stands for the user
        resources=((WORKSPACE, str(workspace.pk)),),
        recheck=_may_still_open_app(match) if user is not None else None,
        resource_type=ResourceType.WORKSPACE_APP,
        resource_id=str(app.pk),
        resource_target=f"{workspace.owner.username}/{workspace.name}/{app.slug}",
        fields={"workspace_id": str(workspace.pk), "agent": app.agent.name, **fields},
    )
