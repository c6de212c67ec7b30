"""`portal publickey [--reset]`: your git SSH public key, to add to git hosts."""

from __future__ import annotations

import sys

import click

from portal_cli.client import logged_in
from portal_cli.output import output_option, print_json


@click.command("publickey")
@click.option("--reset", is_flag=True, help="Replace the key with a new one (asks first).")
@click.option("-y", "--yes", is_flag=True, help="With --reset: do not ask for confirmation.")
@output_option
def publickey(reset: bool, yes: bool, output: str) -> None:
    """Print your git SSH public key.

    git in your workspaces signs with its private half through the workspace agent: add the
    public key to GitHub, GitLab or your git host once, and clones over SSH just work.
    """
    if yes and not reset:
        raise click.UsageError("--yes only goes with --reset.")
    with logged_in() as client:
        if reset:
            if not yes:
                if not sys.stdin.isatty():
                    raise click.UsageError("no terminal to confirm on: pass --yes.")
                click.confirm(
                    "Replace your git SSH key? Git hosts that know the old one stop accepting "
                    "it until you add the new one.",
                    abort=True,
                )
            key = client.put("/users/me/gitsshkey")
        else:
            key = client.get("/users/me/gitsshkey")
    if output == "json":
        print_json(key)
        return
    if reset:
        click.echo(
            "Your git SSH key was replaced: add the new public key to your git hosts.", err=True
        )
    click.echo(f"Fingerprint {key['fingerprint']}. Add this public key to your git host:", err=True)
    click.echo(key["public_key"])


COMMANDS = (publickey,)
