"""`portal port-share list|add|remove`: share a workspace's listening port on its port host."""

from __future__ import annotations

import click

from portal_cli.build_runs import display, get_workspace
from portal_cli.client import logged_in
from portal_cli.output import output_option, print_rows

COLUMNS = (
    ("AGENT", lambda s: s["agent_name"]),
    ("PORT", lambda s: str(s["port"])),
    ("LEVEL", lambda s: s["share_level"]),
    ("PROTOCOL", lambda s: s["protocol"]),
    ("URL", lambda s: s["url"] or "-"),
)


def _agents(workspace: dict) -> list[str]:
    return [a["name"] for r in workspace.get("resources") or [] for a in r.get("agents") or []]


def _target(client, ref: str) -> tuple[dict, str]:
    """(the workspace, the agent name) of WORKSPACE[.AGENT]; the only agent when none is named."""
    name, dot, agent = ref.partition(".")
    workspace = get_workspace(client, name)
    agents = _agents(workspace)
    if dot:
        if agent not in agents:
            raise click.BadParameter(
                f"{display(name, workspace)} has no agent {agent!r} (it has: "
                f"{', '.join(agents) or 'none while it is stopped'}).",
                param_hint="WORKSPACE",
            )
        return workspace, agent
    if len(agents) != 1:
        raise click.BadParameter(
            f"{display(name, workspace)} has {len(agents)} agents: name one, as "
            f"{name}.AGENT ({', '.join(agents) or 'start it first'}).",
            param_hint="WORKSPACE",
        )
    return workspace, agents[0]


@click.group("port-share")
def port_share() -> None:
    """Share a workspace's listening ports with other users.

    \b
    portal port-share list WORKSPACE
    portal port-share add WORKSPACE[.AGENT] PORT --level authenticated|public
    portal port-share remove WORKSPACE[.AGENT] PORT

    Shared ports open on their own host under the wildcard app domain
    (PORT--agent--workspace--owner.<domain>); a port's path URL stays yours.
    """


@port_share.command("list")
@click.argument("workspace")
@output_option
def list_shares(workspace: str, output: str) -> None:
    """List the workspace's shared ports."""
    with logged_in() as client:
        ws = get_workspace(client, workspace.partition(".")[0])
        shares = client.get(f"/workspaces/{ws['id']}/port-share")["shares"]
    print_rows(output, shares, COLUMNS)


@port_share.command("add")
@click.argument("workspace")
@click.argument("port", type=click.IntRange(1, 65535))
@click.option(
    "--level",
    type=click.Choice(["authenticated", "public"]),
    default="authenticated",
    show_default=True,
    help="authenticated: anyone signed in to Portal; public: anyone.",
)
@click.option("--protocol", type=click.Choice(["http", "https"]), default="http", hidden=True)
def add(workspace: str, port: int, level: str, protocol: str) -> None:
    """Share PORT (or change its level), up to what the template allows."""
    with logged_in() as client:
        ws, agent = _target(client, workspace)
        body = {"agent_name": agent, "port": port, "share_level": level, "protocol": protocol}
        share = client.post(f"/workspaces/{ws['id']}/port-share", json=body)
    where = share.get("url") or "its port host (the operator must set PORTAL_WILDCARD_ACCESS_URL)"
    click.echo(f"Port {port} of {display(workspace, ws)} is shared ({level}): {where}")


@port_share.command("remove")
@click.argument("workspace")
@click.argument("port", type=click.IntRange(1, 65535))
def remove(workspace: str, port: int) -> None:
    """Stop sharing PORT: its visitors are refused at once."""
    with logged_in() as client:
        ws, agent = _target(client, workspace)
        body = {"agent_name": agent, "port": port}
        client.request("DELETE", f"/workspaces/{ws['id']}/port-share", json=body)
    click.echo(f"Port {port} of {display(workspace, ws)} is no longer shared.")


COMMANDS = (port_share,)
