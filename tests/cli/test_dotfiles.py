"""`portal dotfiles`: clone, pull, install script or links, and the refusals; on real git repos."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from portal_agent import workspace_cli


def make_repo(path: Path, files: dict[str, str], *, executable: tuple[str, ...] = ()) -> str:
    """A git repository at `path` with these files committed; its file:// URL."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    commit(path, files, executable=executable)
    return path.as_uri()


def commit(path: Path, files: dict[str, str], *, executable: tuple[str, ...] = ()) -> None:
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
        if name in executable:
            (path / name).chmod(0o755)
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "change"], check=True)


@pytest.fixture
def home(tmp_path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


def portal(cli_home: Path, *args: str):
    """The real `portal` CLI, offline (dotfiles needs no server)."""
    import os
    import sys

    from tests.cli.conftest import REPO

    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(HOME=str(cli_home), XDG_CONFIG_HOME=str(cli_home / ".config"))
    return subprocess.run(
        [sys.executable, "-m", "portal", "dotfiles", *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_install_script_runs_from_the_clone_and_a_rerun_pulls(tmp_path, home):
    script = 'echo "installed $(cat version)" >> "$HOME/log"\n'
    url = make_repo(tmp_path / "dots", {"install.sh": script, "version": "1"})
    first = portal(home, url)
    assert first.returncode == 0, first.stderr
    assert "Cloned" in first.stdout and "Running install.sh" in first.stdout
    assert (home / ".config/portal/dotfiles/install.sh").is_file()
    commit(tmp_path / "dots", {"version": "2"})
    second = portal(home, url)
    assert second.returncode == 0 and "Updated" in second.stdout
    assert (home / "log").read_text() == "installed 1\ninstalled 2\n"


def test_without_a_script_dotfiles_are_linked_and_old_files_kept(tmp_path, home):
    url = make_repo(
        tmp_path / "dots", {".bashrc": "alias ll='ls -l'\n", "README": "x", ".vimrc": ""}
    )
    (home / ".bashrc").write_text("mine\n")
    result = portal(home, url)
    assert result.returncode == 0, result.stderr
    clone = home / ".config/portal/dotfiles"
    assert (home / ".bashrc").resolve() == (clone / ".bashrc").resolve()
    assert (home / ".bashrc.bak").read_text() == "mine\n"
    assert (home / ".vimrc").is_symlink() and not (home / "README").exists()
    assert not (home / ".git").exists()
    again = portal(home, url)  # already linked: nothing moves, no second backup
    assert again.returncode == 0 and "No dotfiles to link" in again.stdout


def test_another_url_needs_yes_and_a_failing_script_says_so(tmp_path, home):
    first = make_repo(tmp_path / "a", {".a": ""})
    other = make_repo(tmp_path / "b", {"setup": "exit 3\n"})
    assert portal(home, first).returncode == 0
    refused = portal(home, other)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    clone = home / ".config/portal/dotfiles"
    assert (clone / ".a").exists()  # nothing changed
    failed = portal(home, other, "--yes")
    assert failed.returncode == 1 and "setup exited with code 3" in failed.stderr
    assert (clone / "setup").exists() and not (clone / ".a").exists()


@pytest.mark.parametrize("url", ["--upload-pack=touch /tmp/pwned", "file:///nonexistent/repo"])
def test_bad_urls_are_refused_plainly(home, url):
    result = portal(home, "--", url)
    assert result.returncode != 0
    assert "error:" in result.stderr and "Traceback" not in result.stderr
    assert not Path("/tmp/pwned").exists()


def test_the_workspace_launcher_runs_the_same_command(tmp_path, home):
    url = make_repo(tmp_path / "dots", {".zshrc": ""})
    launcher = Path(workspace_cli.write_launcher()) / "portal"
    result = subprocess.run(
        [
            str(launcher),
            "dotfiles",
            url,
            "--symlink-dir",
            str(home),
            "--repo-dir",
            str(tmp_path / "clone"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (home / ".zshrc").resolve() == (tmp_path / "clone" / ".zshrc").resolve()
    help_run = subprocess.run([str(launcher)], capture_output=True, text=True, timeout=30)
    assert help_run.returncode == 2 and "dotfiles" in help_run.stderr  # never an agent
