"""The `portal` command: server processes for operators, and the client for everyone."""

from __future__ import annotations

import click

import portal


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(portal.__version__, prog_name="portal")
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
        from portal.cli import credentials

        credentials.pin_url(url)


def _register() -> None:
    from portal.cli import (
        agent,
        agent_wheels,
        auth,
        builds,
        config_ssh,
        port_forward,
        server,
        ssh,
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
        *config_ssh.COMMANDS,
        *port_forward.COMMANDS,
        *ssh.COMMANDS,
        agent.agent,
        *agent_wheels.COMMANDS,
    ):
        main.add_command(command)


_register()
