"""`portal external-auth list` and `access-token PROVIDER`: your linked git hosts and tokens."""

from __future__ import annotations

import os
import subprocess
import sys

import click

from portal_cli.client import logged_in
from portal_cli.output import output_option, print_json

# Set by the workspace agent in every session it starts (portal_agent/gitaskpass.py).
AGENT_SOCKET_ENV = "PORTAL_AGENT_EXTERNAL_AUTH_SOCK"


@click.group("external-auth")
def external_auth() -> None:
    """External auth providers (git hosts) linked to your account."""


@external_auth.command("list")
@output_option
def list_providers(output: str) -> None:
    """The configured providers and whether you are linked to each."""
    with logged_in() as client:
        providers = client.get("/external-auth")
    if output == "json":
        print_json(providers)
        return
    if not providers:
        click.echo("No external auth providers are configured.")
        return
    width = max(len(p["id"]) for p in providers)
    for p in providers:
        if p["unavailable"]:
            state = p["unavailable"]
        elif p["authenticated"]:
            state = "linked"
        elif p["invalid_reason"]:
            state = f"link again at {p['link_url']} ({p['invalid_reason']})"
        else:
            state = f"not linked: link at {p['link_url']}"
        click.echo(f"{p['id']:<{width}}  {p['display_name']}: {state}")


@external_auth.command("access-token")
@click.argument("provider")
def access_token(provider: str) -> None:
    """Print your access token for PROVIDER (inside a workspace, through its agent; waits for
    you to link it if you have not)."""
    if not os.environ.get(AGENT_SOCKET_ENV):
        raise click.ClickException(
            "access-token works inside a workspace (through its agent): run it there, e.g. "
            f"`portal ssh WORKSPACE -- portal external-auth access-token {provider}`."
        )
    # The agent's own `portal` (portal_agent.workspace_cli) answers through its socket.
    launcher = os.environ.get("GIT_ASKPASS", "")
    if not launcher:
        raise click.ClickException(
            "GIT_ASKPASS is not set: this session was not started by an agent."
        )
    portal = os.path.join(os.path.dirname(launcher), "portal")
    sys.exit(subprocess.call([portal, "external-auth", "access-token", provider]))


COMMANDS = (external_auth,)
