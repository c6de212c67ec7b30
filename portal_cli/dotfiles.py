"""`portal dotfiles REPO_URL`: personalize a workspace from a dotfiles repository."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from portal_cli.client import CLIError
from portal_shared import dotfiles as lib


@click.command("dotfiles")
@click.argument("repo_url")
@click.option("-y", "--yes", is_flag=True, help="Replace a clone of another URL without asking.")
@click.option("-b", "--branch", default="", help="Clone this branch (default: the remote's).")
@click.option(
    "--repo-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to keep the clone (default: ~/.config/portal/dotfiles).",
)
@click.option(
    "--symlink-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to link dotfiles when the repository has no install script (default: ~).",
)
def dotfiles(
    repo_url: str, yes: bool, branch: str, repo_dir: Path | None, symlink_dir: Path | None
) -> None:
    """Clone REPO_URL and run its install script (or link its dotfiles into your home).

    Run it inside a workspace (templates can run it from a parameter at start). A second run
    pulls the same repository and installs again. Scripts tried, in order: install.sh,
    install, bootstrap.sh, bootstrap, script/bootstrap, setup.sh, setup, script/setup.
    """
    sys.exit(run(repo_url, yes=yes, branch=branch, repo_dir=repo_dir, symlink_dir=symlink_dir))


def run(repo_url, *, yes, branch, repo_dir, symlink_dir) -> int:
    def confirm(question: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise lib.DotfilesError(f"{question} Pass --yes to replace them.")
        return click.confirm(question)

    try:
        lib.install(
            repo_url,
            repo_dir=repo_dir,
            symlink_dir=symlink_dir,
            branch=branch,
            confirm=confirm,
            echo=click.echo,
        )
    except lib.DotfilesError as e:
        raise CLIError(str(e)) from None
    return 0


COMMANDS = (dotfiles,)
