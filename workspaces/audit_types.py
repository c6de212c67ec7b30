"""Audit actions, resource types and payload shapes of workspaces, builds, agents and apps."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from django.db import models

from portal.audit import types
from portal.audit.choices import AuditAction
from portal.audit.types import ConnectionClosed


class WorkspaceAction(models.TextChoices):
    START = "start"
    STOP = "stop"
    CONNECT = "connect"
    DISCONNECT = "disconnect"
    OPEN = "open"


class WorkspaceResourceType(models.TextChoices):
    WORKSPACE = "workspace"
    WORKSPACE_BUILD = "workspace_build"
    WORKSPACE_AGENT = "workspace_agent"
    WORKSPACE_APP = "workspace_app"
    WORKSPACE_PORT_SHARE = "workspace_port_share"


class WorkspaceCreated(TypedDict):
    owner: str
    template: str
    template_version: str
    reason: str  # of its first build


class ScheduleChanged(TypedDict):
    """A workspace's autostart, TTL, running deadline or dormancy changed (the diff says how),
    or the scheduler's autostart/autostop of it was refused (`refused`: the reason)."""

    owner: str
    setting: str  # autostart | ttl | deadline | dormancy
    refused: NotRequired[str]
    reason: NotRequired[str]  # dormancy: why ("not used for 30 days", "reactivated")


class BuildPayload(TypedDict):
    """Every entry of a build: queued (start, stop, delete), finished (same action), canceled
    (write). Its initiator and reason are also the entry's columns."""

    workspace_id: str
    build_number: int
    transition: str
    # The build's reason (the build_reason column); on a build failed because its worker
    # vanished, what failed it (reaper, worker restart).
    reason: str
    # queued
    workspace_name: NotRequired[str]
    owner: NotRequired[str]
    template_version: NotRequired[str]
    template_version_id: NotRequired[str]
    job_id: NotRequired[str]
    then_start: NotRequired[bool]
    orphan: NotRequired[bool]  # queued and finished
    # finished
    status: NotRequired[str]
    error: NotRequired[str]
    # canceled
    cancel: NotRequired[bool]


class AgentConnection(TypedDict):
    """A terminal, SSH or port-forward stream: opened, and closed by its user."""

    kind: str
    port: int | None
    workspace: str  # owner/name
    workspace_id: str
    agent: str
    # disconnect
    duration_seconds: NotRequired[float]
    bytes_in: NotRequired[int]  # from the user's side
    bytes_out: NotRequired[int]  # to the user's side
    # connect refused by a connection_policy handler (the entry's status code is its 4xx)
    refused: NotRequired[str]


class AgentStreamClosed(ConnectionClosed):
    """A stream or the agent's log stream closed by revocation."""

    workspace_id: NotRequired[str]
    port: NotRequired[int | None]


class AppOpened(TypedDict):
    share: str
    path: str
    agent: str


class AppClosed(ConnectionClosed):
    """An app's WebSocket or HTTP response closed by revocation."""

    workspace_id: str
    agent: str
    path: NotRequired[str]  # app-http


class PortShared(TypedDict):
    """A listening port shared (create), its level or protocol changed (write; the diff says
    how), or unshared (delete)."""

    workspace: str  # owner/name
    workspace_id: str
    agent: str
    port: int
    share_level: str
    protocol: str


types.declare_actions(WorkspaceAction.choices)
types.declare_resource(
    WorkspaceResourceType.WORKSPACE,
    label=WorkspaceResourceType.WORKSPACE.label,
    payloads={AuditAction.CREATE: WorkspaceCreated, AuditAction.WRITE: ScheduleChanged},
)
types.declare_resource(
    WorkspaceResourceType.WORKSPACE_BUILD,
    label=WorkspaceResourceType.WORKSPACE_BUILD.label,
    payloads={
        WorkspaceAction.START: BuildPayload,
        WorkspaceAction.STOP: BuildPayload,
        AuditAction.DELETE: BuildPayload,
        AuditAction.WRITE: BuildPayload,
        AuditAction.CLOSE: ConnectionClosed,  # its logs' stream
    },
)
types.declare_resource(
    WorkspaceResourceType.WORKSPACE_AGENT,
    label=WorkspaceResourceType.WORKSPACE_AGENT.label,
    payloads={
        WorkspaceAction.CONNECT: AgentConnection,
        WorkspaceAction.DISCONNECT: AgentConnection,
        AuditAction.CLOSE: AgentStreamClosed,
    },
)
types.declare_resource(
    WorkspaceResourceType.WORKSPACE_APP,
    label=WorkspaceResourceType.WORKSPACE_APP.label,
    payloads={WorkspaceAction.OPEN: AppOpened, AuditAction.CLOSE: AppClosed},
)
types.declare_resource(
    WorkspaceResourceType.WORKSPACE_PORT_SHARE,
    label="workspace port share",
    payloads={
        AuditAction.CREATE: PortShared,
        AuditAction.WRITE: PortShared,
        AuditAction.DELETE: PortShared,
    },
)
