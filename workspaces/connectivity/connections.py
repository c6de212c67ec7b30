"""Who may connect to a workspace agent (port-forward, ssh, terminal, app), and its audit."""

from __future__ import annotations

from dataclasses import dataclass, field

from portal import hooks
from portal.audit.services import record
from portal.errors import Conflict, NotFound, ServiceError
from workspaces import permissions
from workspaces.audit_types import WorkspaceAction, WorkspaceResourceType
from workspaces.connectivity import agents
from workspaces.models import WorkspaceAgent

KINDS = permissions.CONNECTION_KINDS


def agent_for_connection(user, agent_id) -> WorkspaceAgent:
    """The live agent `agent_id` with its workspace and owner loaded, else NotFound."""
    agent = (
        agents._live_agents()
        .filter(pk=agent_id)
        .select_related("resource__job__build__workspace__owner")
        .first()
    )
    if agent is None:
        raise NotFound(permissions.AGENT_NOT_FOUND)
    return agent


def authorize_connection(user, agent: WorkspaceAgent, kind: str, *, path_app: bool = False) -> None:
    """Raise a ServiceError unless `user` may open a `kind` connection to `agent` now.

    The policy decides who (workspaces.permissions.connection_refusal); the agent must be
    connected, and every connection_policy handler must agree.
    """
    refusal = permissions.connection_refusal(user, agent, path_app=path_app)
    if refusal is not None:
        raise refusal
    status = agents.agent_status(agent)
    if status != agents.AgentStatus.CONNECTED:
        raise Conflict(
            f"The workspace agent is not connected (it is {status}).",
            detail="Start the workspace and wait for its agent to connect.",
        )
    try:
        check_policy(user, kind)
    except ServiceError as refused:
        _audit_refusal(user, agent, kind, refused)
        raise


def check_policy(user, kind: str) -> None:
    """Raise the ServiceError of the first connection_policy handler that refuses a `kind`
    connection for `user` (browser-only mode...): the one check every connection path asks."""
    for handler in hooks.connection_policy.handlers():
        handler(user, kind)


def policy_refusal(user, kind: str) -> ServiceError | None:
    """What check_policy would raise, for pages and clients that ask before connecting."""
    try:
        check_policy(user, kind)
    except ServiceError as refused:
        return refused
    return None


def _audit_refusal(user, agent: WorkspaceAgent, kind: str, refused: ServiceError) -> None:
    session = Session(user=user, agent=agent, kind=kind, extra={"refused": refused.message})
    record(
        actor=user,
        action=WorkspaceAction.CONNECT,
        resource_type=WorkspaceResourceType.WORKSPACE_AGENT,
        resource_id=agent.pk,
        resource_target=session._target(),
        additional_fields=session._fields(),
        status_code=refused.status_code,
    )


@dataclass
class Session:
    """One open connection, for its connect and disconnect audit entries."""

    user: object
    agent: WorkspaceAgent
    kind: str
    port: int | None = None
    extra: dict = field(default_factory=dict)

    def _fields(self) -> dict:
        workspace = self.agent.resource.job.build.workspace
        fields = {
            "kind": self.kind,
            "port": self.port,
            "workspace": f"{workspace.owner.username}/{workspace.name}",
            "workspace_id": str(workspace.pk),
            "agent": self.agent.name,
        }
        return {**fields, **self.extra}

    def _target(self) -> str:
        workspace = self.agent.resource.job.build.workspace
        return f"{workspace.owner.username}/{workspace.name}.{self.agent.name}"

    def audit_connect(self) -> None:
        record(
            actor=self.user,
            action=WorkspaceAction.CONNECT,
            resource_type=WorkspaceResourceType.WORKSPACE_AGENT,
            resource_id=self.agent.pk,
            resource_target=self._target(),
            additional_fields=self._fields(),
        )

    def audit_disconnect(self, *, duration_seconds: float, bytes_in: int, bytes_out: int) -> None:
        """bytes_in: received from the user's side; bytes_out: sent to the user's side."""
        record(
            actor=self.user,
            action=WorkspaceAction.DISCONNECT,
            resource_type=WorkspaceResourceType.WORKSPACE_AGENT,
            resource_id=self.agent.pk,
            resource_target=self._target(),
            additional_fields={
                **self._fields(),
                "duration_seconds": round(duration_seconds, 3),
                "bytes_in": bytes_in,
                "bytes_out": bytes_out,
            },
        )
