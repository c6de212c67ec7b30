"""The `portal` command: server processes for operators, and the client for everyone."""

from __future__ import annotations

import click

import portal


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(portal.__version__, prog_name="portal")
def main() -> None:
    """Portal: self-hosted remote development environments.

    Start the platform with `portal server`; sign in with `portal login URL`.
    """


def _register() -> None:
    from portal.cli import (
        agent,
        auth,
        builds,
        port_forward,
        server,
        templates,
        tokens,
        users,
        workspaces,
    )

    for command in (
        *server.COMMANDS,
        *auth.COMMANDS,
        users.users,
        tokens.tokens,
        templates.templates,
        *workspaces.COMMANDS,
        *builds.COMMANDS,
        *port_forward.COMMANDS,
        agent.agent,
    ):
        main.add_command(command)


_register()
