"""Writes of port shares: share a workspace's listening port on its port host, or stop sharing.

Who may: the workspace's owner, or who may build every workspace (workspace.manage_all), as for
its schedule. A share is capped by the template's max_port_share_level when made and when used
(workspaces.proxy.ports), and works on port hosts only: a port's path URL stays its owner's.
"""

from __future__ import annotations

from django.db import transaction

from portal import policy
from portal.audit import services as audit
from portal.audit.choices import AuditAction
from portal.errors import Conflict, Forbidden, NotFound, ValidationFailed
from portal.revocation.announce import announce_resource
from workspaces.audit_types import WorkspaceResourceType
from workspaces.choices import PortShareLevel, PortShareProtocol
from workspaces.models import Workspace, WorkspacePortShare
from workspaces.proxy.ports import capped

PORT_SHARE = "port-share"  # the revocation resource kind open shared-port connections depend on
AGENT_NAME_MAX = 64


def share_key(workspace_id, agent_name: str, port: int) -> str:
    """The revocation resource id of one shared port."""
    return f"{workspace_id}:{agent_name.lower()}:{port}"


def _locked(workspace: Workspace, actor) -> Workspace:
    row = (
        Workspace.objects.select_for_update(of=("self",))
        .select_related("owner", "template")
        .filter(pk=workspace.pk)
        .first()
    )
    if row is None or not policy.can(actor, "read", row):
        raise NotFound("Workspace not found.")
    if not policy.can(actor, "build", row):
        raise Forbidden(
            "You may not share this workspace's ports.",
            detail="Only its owner or a user with the owner role can.",
        )
    if row.deleted_at is not None:
        raise Conflict(f"Workspace {row.name!r} was deleted.")
    return row


def _check_port(port) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValidationFailed.field("port", "Give a port from 1 to 65535.")
    return port


def _check_agent(agent_name) -> str:
    if not isinstance(agent_name, str) or not agent_name.strip():
        raise ValidationFailed.field("agent_name", "Name the workspace agent the port is on.")
    if len(agent_name) > AGENT_NAME_MAX or "\x00" in agent_name:
        raise ValidationFailed.field("agent_name", "No agent has such a name.")
    return agent_name.strip()


def _payload(workspace: Workspace, share: WorkspacePortShare) -> dict:
    return {
        "workspace": f"{workspace.owner.username}/{workspace.name}",
        "workspace_id": str(workspace.pk),
        "agent": share.agent_name,
        "port": share.port,
        "share_level": share.share_level,
        "protocol": share.protocol,
    }


def _record(actor, action, workspace, share, **extra) -> None:
    audit.record(
        actor=actor,
        action=action,
        resource_type=WorkspaceResourceType.WORKSPACE_PORT_SHARE,
        resource_id=share.pk,
        resource_target=f"{workspace.owner.username}/{workspace.name}.{share.agent_name}:"
        f"{share.port}",
        additional_fields=_payload(workspace, share),
        **extra,
    )


def share_port(
    workspace: Workspace,
    *,
    actor,
    agent_name: str,
    port: int,
    share_level: str,
    protocol: str = PortShareProtocol.HTTP,
) -> WorkspacePortShare:
    """Share (or change the share of) a port: `authenticated` (anyone signed in) or `public`
    (anyone), up to the template's maximum. Repeating the current share changes nothing."""
    port = _check_port(port)
    agent_name = _check_agent(agent_name)
    if share_level not in PortShareLevel.values:
        raise ValidationFailed.field(
            "share_level", "Use authenticated or public (remove the share to keep it yours)."
        )
    if protocol not in PortShareProtocol.values:
        raise ValidationFailed.field("protocol", "Use http or https.")
    if protocol == PortShareProtocol.HTTPS:
        raise ValidationFailed.field(
            "protocol", "Ports that speak HTTPS themselves cannot be proxied yet: use http."
        )
    with transaction.atomic():
        row = _locked(workspace, actor)
        maximum = row.template.max_port_share_level
        if capped(share_level, maximum) != share_level:
            raise Forbidden(
                f"The template {row.template.name!r} lets ports be shared up to {maximum!r} only.",
                detail="A template admin sets the template's max_port_share_level.",
            )
        share = (
            WorkspacePortShare.objects.select_for_update()
            .filter(workspace=row, agent_name__iexact=agent_name, port=port)
            .first()
        )
        if share is None:
            share = WorkspacePortShare.objects.create(
                workspace=row,
                agent_name=agent_name,
                port=port,
                share_level=share_level,
                protocol=protocol,
            )
            _record(actor, AuditAction.CREATE, row, share, status_code=201)
            return share
        before = {"share_level": share.share_level, "protocol": share.protocol}
        after = {"share_level": share_level, "protocol": protocol}
        if before == after:
            return share
        lowered = capped(share_level, share.share_level) != share.share_level
        share.share_level, share.protocol = share_level, protocol
        share.save(update_fields=["share_level", "protocol"])
        _record(actor, AuditAction.WRITE, row, share, diff=audit.diff(before, after))
        if lowered:  # who came in at the old level is let in again only if still allowed
            _announce_after_commit(row, share, actor)
    return share


def unshare_port(workspace: Workspace, *, actor, agent_name: str, port: int) -> None:
    """Stop sharing a port: new requests are refused at once, open connections are closed."""
    port = _check_port(port)
    agent_name = _check_agent(agent_name)
    with transaction.atomic():
        row = _locked(workspace, actor)
        share = (
            WorkspacePortShare.objects.select_for_update()
            .filter(workspace=row, agent_name__iexact=agent_name, port=port)
            .first()
        )
        if share is None:
            raise NotFound(f"Port {port} of agent {agent_name!r} is not shared.")
        _record(actor, AuditAction.DELETE, row, share)
        share.delete()
        _announce_after_commit(row, share, actor)


def _announce_after_commit(workspace: Workspace, share: WorkspacePortShare, actor) -> None:
    key = share_key(workspace.pk, share.agent_name, share.port)
    transaction.on_commit(lambda: announce_resource(PORT_SHARE, key, actor=actor), robust=True)
