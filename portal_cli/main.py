"""The `portal` command: server processes for operators, and the client for everyone."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import click

from portal_cli import (
    agent,
    agent_wheels,
    appearance,
    audit,
    auth,
    builds,
    config_ssh,
    credentials,
    dotfiles,
    external_auth,
    groups,
    licenses,
    notifications,
    open_ide,
    port_forward,
    port_share,
    provisioners,
    publickey,
    quota,
    schedule,
    scim,
    ssh,
    templates,
    tokens,
    users,
    workspaces,
)
from portal_shared.version import __version__

COMMAND_GROUP = "portal.commands"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="portal")
@click.option(
    "--url",
    metavar="URL",
    help="Talk to this server, with its saved login only (e.g. in an ssh ProxyCommand).",
)
def main(url: str | None) -> None:
    """Portal: self-hosted remote development environments.

    Start the platform with `portal server`; sign in with `portal login URL`.
    """
    if url:
        credentials.pin_url(url)


def _plugin_commands() -> list[click.Command]:
    """Command groups other packages add (`portal server`, later enterprise's), declared as
    entry points in group `portal.commands`, each naming a tuple of click commands: the CLI
    never imports the server (or enterprise) by name."""
    commands: list[click.Command] = []
    for entry in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        try:
            commands.extend(entry.load())
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not take `portal ssh` down
            print(
                f"portal: skipped commands {entry.name!r} ({entry.value}): {exc}", file=sys.stderr
            )
    return commands


for _command in (
    *auth.COMMANDS,
    users.users,
    groups.groups,
    audit.audit,
    tokens.tokens,
    scim.scim,
    provisioners.provisioner,
    templates.templates,
    *workspaces.COMMANDS,
    *schedule.COMMANDS,
    *builds.COMMANDS,
    *config_ssh.COMMANDS,
    *port_forward.COMMANDS,
    *port_share.COMMANDS,
    *open_ide.COMMANDS,
    *external_auth.COMMANDS,
    *publickey.COMMANDS,
    *dotfiles.COMMANDS,
    *ssh.COMMANDS,
    agent.agent,
    *agent_wheels.COMMANDS,
    *licenses.COMMANDS,
    *quota.COMMANDS,
    *appearance.COMMANDS,
    *notifications.COMMANDS,
    *_plugin_commands(),
):
    main.add_command(_command)
# `portal templates edit`: the scheduling policy (portal_cli/schedule.py).
templates.templates.add_command(schedule.edit_template)
