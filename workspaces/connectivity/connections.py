"""Who may connect to a workspace agent (port-forward, ssh, terminal, app), and its audit."""

from __future__ import annotations

from dataclasses import dataclass, field

from portal import config, hooks
from portal.accounts.choices import Role
from portal.accounts.permissions import has_permission
from portal.audit.choices import AuditAction, ResourceType
from portal.audit.services import record
from portal.errors import Conflict, Forbidden, NotFound
from workspaces.choices import AppShareLevel
from workspaces.connectivity import agents
from workspaces.models import WorkspaceAgent

KINDS = ("port-forward", "ssh", "terminal", "app")


def owners_may_connect() -> bool:
    """PORTAL_OWNERS_MAY_CONNECT: platform owners may connect to other users' workspaces."""
    return config.load().owners_may_connect


def path_app_sharing() -> bool:
    """PORTAL_DANGEROUS_ALLOW_PATH_APP_SHARING: path apps honour their share level."""
    return config.load().dangerous_allow_path_app_sharing


def path_app_site_owner_access() -> bool:
    """PORTAL_DANGEROUS_ALLOW_PATH_APP_SITE_OWNER_ACCESS: platform owners who may connect to
    other users' workspaces may open their path apps too."""
    return config.load().dangerous_allow_path_app_site_owner_access


def app_share_level(app, *, by_path: bool) -> str:
    """The share level the app proxy honours. A path app's pages run on Portal's own origin,
    where they could use the visitor's session: it is its owner's only, unless the operator
    accepted that risk."""
    if by_path and not path_app_sharing():
        return AppShareLevel.OWNER
    return app.share


def agent_for_connection(user, agent_id) -> WorkspaceAgent:
    """The live agent `agent_id` with its workspace and owner loaded, else NotFound."""
    agent = (
        agents._live_agents()
        .filter(pk=agent_id)
        .select_related("resource__job__build__workspace__owner")
        .first()
    )
    if agent is None:
        raise NotFound("No such workspace agent.")
    return agent


def authorize_connection(user, agent: WorkspaceAgent, kind: str, *, path_app: bool = False) -> None:
    """Raise a ServiceError unless `user` may open a `kind` connection to `agent` now.

    Only the workspace owner connects; a platform owner too when PORTAL_OWNERS_MAY_CONNECT is
    true, and to a path app (`path_app`, served on Portal's origin) only when
    PORTAL_DANGEROUS_ALLOW_PATH_APP_SITE_OWNER_ACCESS is true as well. The agent must be
    connected, and every connection_policy handler must agree.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        raise NotFound("No such workspace agent.")
    workspace = agent.resource.job.build.workspace
    if workspace.deleted_at is not None:
        raise NotFound("No such workspace agent.")
    if workspace.owner_id != user.pk:
        site_owner = user.has_role(Role.OWNER) and owners_may_connect()
        if site_owner and (not path_app or path_app_site_owner_access()):
            pass
        elif has_permission(user, "workspace.read_all"):
            # They may see the workspace, so say why rather than pretend it does not exist.
            message, detail = _why_not(path_app)
            raise Forbidden(message, detail=detail)
        else:
            raise NotFound("No such workspace agent.")
    status = agents.agent_status(agent)
    if status != agents.AgentStatus.CONNECTED:
        raise Conflict(
            f"The workspace agent is not connected (it is {status}).",
            detail="Start the workspace and wait for its agent to connect.",
        )
    for handler in hooks.connection_policy.handlers():
        handler(user, kind)


def _why_not(path_app: bool) -> tuple[str, str]:
    if not path_app:
        return (
            "Only the workspace owner may connect to its agent.",
            "Platform owners may connect when PORTAL_OWNERS_MAY_CONNECT=true.",
        )
    return (
        "Only the workspace owner may open its path apps.",
        "A path app runs on Portal's own origin, with the session of whoever opens it. Platform "
        "owners may open other users' path apps when both PORTAL_OWNERS_MAY_CONNECT=true and "
        "PORTAL_DANGEROUS_ALLOW_PATH_APP_SITE_OWNER_ACCESS=true.",
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
            action=AuditAction.CONNECT,
            resource_type=ResourceType.WORKSPACE_AGENT,
            resource_id=self.agent.pk,
            resource_target=self._target(),
            additional_fields=self._fields(),
        )

    def audit_disconnect(self, *, duration_seconds: float, bytes_in: int, bytes_out: int) -> None:
        """bytes_in: received from the user's side; bytes_out: sent to the user's side."""
        record(
            actor=self.user,
            action=AuditAction.DISCONNECT,
            resource_type=ResourceType.WORKSPACE_AGENT,
            resource_id=self.agent.pk,
            resource_target=self._target(),
            additional_fields={
                **self._fields(),
                "duration_seconds": round(duration_seconds, 3),
                "bytes_in": bytes_in,
                "bytes_out": bytes_out,
            },
        )
