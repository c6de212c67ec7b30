"""The TCP ports an agent reports listening in its workspace: checked, stored on change, announced.

Reported by the agent process itself (portal_agent/listening.py), so, like its lifecycle and app
health, without an actor or audit entry; the owner's pages hear of a change over the events socket.
"""

from __future__ import annotations

from django.db import transaction

from portal.errors import ValidationFailed
from workspaces import events
from workspaces.connectivity.agents import AgentStatus, agent_status
from workspaces.models import WorkspaceAgent

MAX_PORTS = 200  # the agent's own cap; more is refused, not stored
MAX_NAME = 64


def _port(entry) -> dict:
    if not isinstance(entry, dict):
        raise ValidationFailed.field("ports", "Each port must be an object.")
    port = entry.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValidationFailed.field("ports", "Each port must be a number from 1 to 65535.")
    name = entry.get("process_name")
    return {
        "port": port,
        "network": "tcp",
        "process_name": name[:MAX_NAME] if isinstance(name, str) else "",
    }


def clean(ports) -> list[dict]:
    """The report as stored: valid entries, one per port, sorted; ValidationFailed otherwise."""
    if not isinstance(ports, list) or len(ports) > MAX_PORTS:
        raise ValidationFailed.field("ports", f"Send a list of at most {MAX_PORTS} ports.")
    by_port = {p["port"]: p for p in map(_port, ports)}
    return [by_port[port] for port in sorted(by_port)]


def report_listening_ports(agent: WorkspaceAgent, ports) -> bool:
    """Store what the agent reports listening; True if it changed (then the owner is told)."""
    cleaned = clean(ports)
    with transaction.atomic():
        row = WorkspaceAgent.objects.select_for_update().only("listening_ports").get(pk=agent.pk)
        if row.listening_ports == cleaned:
            return False
        row.listening_ports = cleaned
        row.save(update_fields=["listening_ports"])
        events.agent_changed(agent.pk, ports=len(cleaned))
    return True


def listening_ports(agent: WorkspaceAgent) -> list[dict]:
    """What the agent last reported, if it is connected now: a gone agent's ports are unknown."""
    if agent_status(agent) != AgentStatus.CONNECTED:
        return []
    return list(agent.listening_ports or [])
