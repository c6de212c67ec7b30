"""The `portal` command inside a workspace: what runs there without the full CLI (dotfiles).

The agent puts a `portal` launcher for this module at the end of PATH for scripts, terminals
and SSH sessions (an installed portal CLI earlier on PATH wins); it never starts an agent.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from pathlib import Path

from portal_agent import gitaskpass
from portal_shared import dotfiles

# GIT_ASKPASS must name one executable (git runs it with the prompt as its only argument).
ASKPASS_NAME = "portal-gitaskpass"


def write_launcher() -> str:
    """A directory holding a `portal` launcher for this module (the agent's own Python and
    code: a zipapp's path works on PYTHONPATH); the caller appends it to PATH."""
    import portal_agent

    root = str(Path(portal_agent.__file__).parent.parent)
    directory = tempfile.mkdtemp(prefix="portal-bin-")
    launcher = Path(directory) / "portal"
    launcher.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH={shlex.quote(root)}${{PYTHONPATH:+:$PYTHONPATH}} "
        f'exec {shlex.quote(sys.executable)} -m portal_agent.workspace_cli "$@"\n'
    )
    os.chmod(launcher, 0o700)  # its directory is private anyway (mkdtemp)
    askpass = Path(directory) / ASKPASS_NAME
    askpass.write_text(f'#!/bin/sh\nexec {shlex.quote(str(launcher))} gitaskpass "$@"\n')
    os.chmod(askpass, 0o700)
    return directory


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="portal",
        description="Portal inside a workspace. For everything else, use the portal CLI on "
        "your computer.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dotfiles", help="Clone a dotfiles repository and install it.")
    d.add_argument("repo_url")
    d.add_argument("-y", "--yes", action="store_true", help="Replace another clone without asking.")
    d.add_argument("-b", "--branch", default="")
    d.add_argument("--repo-dir", type=Path)
    d.add_argument("--symlink-dir", type=Path)
    a = sub.add_parser("gitaskpass", help="git's GIT_ASKPASS: credentials from external auth.")
    a.add_argument("prompt", nargs="?", default="")
    e = sub.add_parser("external-auth", help="Tokens of your linked external accounts.")
    esub = e.add_subparsers(dest="external_auth_command", required=True)
    t = esub.add_parser("access-token", help="Print your access token for a provider.")
    t.add_argument("provider")
    return p


def access_token(provider: str) -> int:
    answer = gitaskpass.wait_for_credentials({"provider": provider})
    if "error" in answer:
        print(f"error: {answer['error']}", file=sys.stderr)
        return 1
    print(answer["access_token"])
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "gitaskpass":
        return gitaskpass.askpass_main(args.prompt)
    if args.command == "external-auth":
        return access_token(args.provider)

    def confirm(question: str) -> bool:
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise dotfiles.DotfilesError(f"{question} Pass --yes to replace them.")
        return input(f"{question} [y/N] ").strip().lower() in {"y", "yes"}

    try:
        dotfiles.install(
            args.repo_url,
            repo_dir=args.repo_dir,
            symlink_dir=args.symlink_dir,
            branch=args.branch,
            confirm=confirm,
        )
    except dotfiles.DotfilesError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
