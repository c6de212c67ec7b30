"""`portal agent-wheels`: fill and list the wheelhouse the server serves agents for SSH."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from portal_shared import agent_wheels


@click.group("agent-wheels")
def agent_wheels_group() -> None:
    """The agent's SSH dependencies (asyncssh, cryptography) for each workspace platform."""


def _directory(path: str | None) -> Path:
    return Path(path).expanduser().resolve() if path else agent_wheels.default_wheelhouse()


@agent_wheels_group.command("download")
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    type=click.Choice(sorted(agent_wheels.PLATFORMS)),
    help="Workspace platforms to download for (repeatable); default: all of them.",
)
@click.option(
    "--python",
    "pythons",
    multiple=True,
    metavar="X.Y",
    help=f"Workspace Python versions (repeatable); default: {', '.join(agent_wheels.PYTHONS)}.",
)
@click.option(
    "--dir",
    "directory",
    metavar="PATH",
    help="The wheelhouse (default: PORTAL_AGENT_WHEELHOUSE, or share/portal/agent-wheels in "
    "this installation).",
)
def download(platforms: tuple[str, ...], pythons: tuple[str, ...], directory: str | None) -> None:
    """Download the wheels with pip (from PyPI or the index pip is configured with).

    Fails only when the wheels for this machine's own platform and Python could not be had:
    workspaces of the `local` template run here. Other failures are listed.
    """
    target = _directory(directory)
    chosen = list(platforms) or sorted(agent_wheels.PLATFORMS)
    versions = list(pythons) or list(agent_wheels.PYTHONS)
    for version in versions:
        parts = version.split(".")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise click.BadParameter(f"{version!r} is not X.Y", param_hint="--python")
    click.echo(f"Downloading the agent's SSH wheels into {target}")
    failures = agent_wheels.download(target, chosen, versions, echo=click.echo)
    here = agent_wheels.local_platform()
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if any(key == here and python == mine for key, python, _ in failures):
        raise click.ClickException(
            f"could not download the wheels for this machine ({here}, Python {mine}): "
            "SSH into `local` workspaces will not work until they are in the wheelhouse."
        )
    count = len(agent_wheels.index(target))
    click.echo(f"{count} wheels in {target}" + (f"; {len(failures)} failed" if failures else ""))


@agent_wheels_group.command("list")
@click.option("--dir", "directory", metavar="PATH", help="The wheelhouse to list.")
def list_wheels(directory: str | None) -> None:
    """The wheels the server serves agents, with their sha256."""
    target = _directory(directory)
    wheels = agent_wheels.index(target)
    if not wheels:
        click.echo(f"No wheels in {target}: run `portal agent-wheels download`.")
        return
    for wheel in wheels:
        click.echo(f"{wheel.sha256[:16]}  {wheel.size:>9}  {wheel.filename}")


COMMANDS = (agent_wheels_group,)
