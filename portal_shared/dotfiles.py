"""`portal dotfiles REPO`: clone a dotfiles repository and install it, as Coder's command does.

The repository goes to ~/.config/portal/dotfiles (a second run with the same URL pulls; another
URL is refused unless confirmed, since it replaces the clone). Then the first install script
found runs from the clone (install.sh, install, bootstrap.sh, bootstrap, script/bootstrap,
setup.sh, setup, script/setup); with none, every dotfile at the top of the repository
(.bashrc, .gitconfig, ...) is linked into the home directory, an existing file kept as
NAME.bak. Standard library only: the workspace's `portal` (the agent bundle) runs it too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

INSTALL_SCRIPTS = (
    "install.sh",
    "install",
    "bootstrap.sh",
    "bootstrap",
    "script/bootstrap",
    "setup.sh",
    "setup",
    "script/setup",
)
SKIP = {".git", ".github", ".gitignore", ".gitmodules", ".DS_Store"}


class DotfilesError(Exception):
    """What went wrong, in a sentence for the user."""


def default_dir() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(config) / "portal" / "dotfiles"


def _git(*args: str, cwd: Path | None = None) -> str:
    if shutil.which("git") is None:
        raise DotfilesError("git is not installed in this workspace.")
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},  # never hang on a password prompt
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise DotfilesError(f"git {args[0]} failed: {detail[-1] if detail else 'no output'}")
    return result.stdout.strip()


def _check_url(url: str) -> str:
    url = url.strip()
    if not url or url.startswith("-"):
        raise DotfilesError(f"{url!r} is not a git repository URL.")
    return url


def fetch(url: str, repo_dir: Path, *, branch: str = "", confirm: Callable[[str], bool]) -> str:
    """Clone, or pull an existing clone of the same URL; returns what was done."""
    url = _check_url(url)
    if (repo_dir / ".git").is_dir():
        current = _git("remote", "get-url", "origin", cwd=repo_dir)
        if current == url:
            _git("pull", "--ff-only", cwd=repo_dir)
            return f"Updated {repo_dir} from {url}."
        if not confirm(f"{repo_dir} holds dotfiles from {current}; replace them with {url}?"):
            raise DotfilesError("Kept the existing dotfiles; nothing changed.")
        shutil.rmtree(repo_dir)
    elif repo_dir.exists() and any(repo_dir.iterdir()):
        raise DotfilesError(f"{repo_dir} exists and is not a git clone: move it away first.")
    repo_dir.parent.mkdir(parents=True, exist_ok=True)
    _git("clone", *(("--branch", branch) if branch else ()), "--", url, str(repo_dir))
    return f"Cloned {url} into {repo_dir}."


def install_script(repo_dir: Path) -> Path | None:
    for name in INSTALL_SCRIPTS:
        path = repo_dir / name
        if path.is_file():
            return path
    return None


def run_script(script: Path, repo_dir: Path) -> int:
    """The install script, from the clone, with its output on this terminal."""
    command = [str(script)] if os.access(script, os.X_OK) else ["sh", str(script)]
    return subprocess.run(command, cwd=repo_dir).returncode


def link_dotfiles(repo_dir: Path, target: Path) -> list[str]:
    """Link the repository's top-level dotfiles into `target`; what was linked, for the user."""
    done = []
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted(repo_dir.iterdir()):
        if not source.name.startswith(".") or source.name in SKIP:
            continue
        dest = target / source.name
        if dest.is_symlink() and os.readlink(dest) == str(source):
            continue  # already ours
        if dest.exists() or dest.is_symlink():
            backup = dest.with_name(dest.name + ".bak")
            if backup.exists() or backup.is_symlink():
                raise DotfilesError(f"{dest} and {backup} both exist: move one away first.")
            dest.rename(backup)
            done.append(f"{dest} (the old one is {backup.name})")
        else:
            done.append(str(dest))
        dest.symlink_to(source)
    return done


def install(
    url: str,
    *,
    repo_dir: Path | None = None,
    symlink_dir: Path | None = None,
    branch: str = "",
    confirm: Callable[[str], bool],
    echo: Callable[[str], None] = print,
) -> None:
    """The whole command: fetch, then the install script or the links; DotfilesError on failure."""
    repo_dir = repo_dir or default_dir()
    echo(fetch(url, repo_dir, branch=branch, confirm=confirm))
    script = install_script(repo_dir)
    if script is not None:
        name = script.relative_to(repo_dir)
        echo(f"Running {name}...")
        code = run_script(script, repo_dir)
        if code != 0:
            raise DotfilesError(f"{name} exited with code {code}.")
        return
    linked = link_dotfiles(repo_dir, symlink_dir or Path.home())
    echo("Linked " + ", ".join(linked) + "." if linked else "No dotfiles to link.")
