"""`portal open vscode|jetbrains WS [DIR]`: open a workspace in a desktop IDE over SSH."""

from __future__ import annotations

import posixpath
import webbrowser

import click

from portal_cli.build_runs import get_workspace
from portal_cli.client import CLIError, logged_in
from portal_cli.config_ssh import check_prefix, check_ssh_allowed
from portal_cli.port_forward import choose_agent
from portal_cli.ssh import split_target
from portal_shared import ide_links


def _folder(agent: dict, directory: str) -> str:
    """DIR as given (absolute), or relative to the agent's directory; its directory by default."""
    base = agent.get("expanded_directory") or ""
    if directory.startswith("/"):
        return posixpath.normpath(directory)
    if not base:
        raise CLIError(
            "The workspace's agent has not reported its directory yet (it has not started); "
            "wait for it, or give an absolute DIR."
        )
    return posixpath.normpath(posixpath.join(base, directory)) if directory else base


def _open(ide: str, target: str, directory: str, host_prefix: str, no_open: bool) -> None:
    ref, agent_name = split_target(target)
    if "/" in ref:
        raise CLIError(
            "IDEs connect through your `portal config-ssh` hosts, which are your own "
            "workspaces: give a workspace of yours (NAME or NAME.AGENT)."
        )
    with logged_in() as client:
        check_ssh_allowed(client)  # both IDEs connect over SSH: browser-only mode refuses them
        workspace = get_workspace(client, ref)
        if workspace.get("status") != "running":
            raise CLIError(
                f"workspace {ref} is {workspace.get('status')}: start it with `portal start {ref}`."
            )
        agent = choose_agent(workspace, agent_name)
    folder = _folder(agent, directory)
    host = ide_links.ssh_host(workspace["name"], host_prefix)
    url = ide_links.link(ide, host, folder, workspace.get("owner_name") or "")
    click.echo(
        f"Opening {ide_links.IDES[ide]} on {host}:{folder}. It connects through the ssh host "
        f"{host}: run `portal config-ssh` once if you have not.",
        err=True,
    )
    if no_open or not webbrowser.open(url):
        click.echo(url)


def _command(ide: str) -> click.Command:
    @click.command(ide, help=f"Open WORKSPACE in {ide_links.IDES[ide]}, in DIR if given.")
    @click.argument("workspace")
    @click.argument("directory", required=False, default="")
    @click.option(
        "--host-prefix",
        default=ide_links.DEFAULT_HOST_PREFIX,
        show_default=True,
        callback=lambda ctx, param, value: check_prefix(value),
        help="The prefix `portal config-ssh` gave the workspace's ssh host.",
    )
    @click.option("--no-open", is_flag=True, help="Print the link instead of opening it.")
    def command(workspace: str, directory: str, host_prefix: str, no_open: bool) -> None:
        _open(ide, workspace, directory, host_prefix, no_open)

    return command


@click.group("open")
def open_group() -> None:
    """Open a workspace in a desktop IDE (over the `portal config-ssh` host)."""


for _ide in ide_links.IDES:
    open_group.add_command(_command(_ide))

COMMANDS = (open_group,)
