"""`portal agent`: run the workspace agent (imported lazily; the agent needs no Django)."""

from __future__ import annotations

import sys

import click


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def agent(args: tuple[str, ...]) -> None:
    """Run the workspace agent (configured by PORTAL_AGENT_URL and PORTAL_AGENT_TOKEN)."""
    from portal_agent.main import main

    sys.exit(main(list(args)))
