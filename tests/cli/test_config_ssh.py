"""`portal config-ssh` against a live server: a managed ssh config section, read by OpenSSH."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from tests.factories import workspace

USER_TEXT = "# my hosts\nHost github.com\n  User git\n  IdentityFile ~/.ssh/gh"  # no last newline
needs_ssh = pytest.mark.skipif(not shutil.which("ssh"), reason="needs the OpenSSH client")


def ssh_g(config, host: str) -> dict[str, str]:
    """What OpenSSH itself makes of `host` with this config file (`ssh -G`)."""
    result = subprocess.run(
        ["ssh", "-G", "-F", str(config), host], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)


def label(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def prompt(cli, answer: str) -> str:
    """Run `portal config-ssh` on a terminal and answer its question."""
    import pexpect

    from tests.cli.conftest import REPO

    child = pexpect.spawn(
        sys.executable,
        ["-m", "portal", "config-ssh"],
        env=cli.env,
        cwd=str(REPO),
        encoding="utf-8",
        timeout=60,
    )
    child.expect(r"Update .*config\? \[y/N\]: ")
    shown = child.before + child.after
    child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    return shown + child.before


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "ssh_config"
    path.write_text(USER_TEXT)
    path.chmod(0o640)
    return path


@needs_ssh
def test_one_host_per_own_live_workspace_read_by_openssh(cli, member, make_user, config):
    workspace(member, name="dev")
    workspace(member, name="api")
    workspace(member, name="old", deleted_at=timezone.now())
    workspace(make_user(username="bob"), name="bobs")
    cli.login(member)

    out = cli.ok("config-ssh", "--ssh-config-file", str(config), "--yes").stdout
    assert f"Updated {config}; hosts: portal.api, portal.dev" in out
    text = config.read_text()
    assert text.startswith(USER_TEXT + "\n# ------------START-PORTAL-")
    assert f"# ------------START-PORTAL-{label(cli.url)}-----------\n" in text
    assert text.endswith(f"# ------------END-PORTAL-{label(cli.url)}-----------\n")
    assert "portal.old" not in text and "portal.bobs" not in text
    assert stat.S_IMODE(config.stat().st_mode) == 0o640  # the file's mode is kept

    dev = ssh_g(config, "portal.dev")
    assert dev["proxycommand"].endswith(f'-m portal --url "{cli.url}" ssh --stdio dev')
    assert dev["proxycommand"].startswith(f'"{sys.executable}"')
    assert dev["stricthostkeychecking"] == "false"
    assert dev["userknownhostsfile"] == "/dev/null"
    assert dev["loglevel"] == "ERROR"
    assert dev["connecttimeout"] == "0"
    assert ssh_g(config, "portal.api")["proxycommand"].endswith("ssh --stdio api")
    assert "proxycommand" not in ssh_g(config, "portal.old")
    assert ssh_g(config, "github.com")["user"] == "git"

    before = config.stat().st_mtime_ns
    again = cli.ok("config-ssh", "--ssh-config-file", str(config), "--yes").stdout
    assert again == f"No changes to {config}.\n"
    assert config.read_text() == text
    assert config.stat().st_mtime_ns == before


def test_dry_run_deleted_workspace_and_removal(cli, member, config):
    dev = workspace(member, name="dev")
    workspace(member, name="api")
    cli.login(member)

    dry = cli.ok("config-ssh", "--ssh-config-file", str(config), "--dry-run")
    assert dry.stdout.startswith(f"--- {config}\n+++ {config}\n@@ ")
    assert "\n+Host portal.dev\n" in dry.stdout
    assert "-  IdentityFile ~/.ssh/gh\n\\ No newline at end of file\n" in dry.stdout
    assert "nothing was written" in dry.stderr
    assert config.read_text() == USER_TEXT

    cli.ok("config-ssh", "--ssh-config-file", str(config), "-y")
    # Text the user adds after our section later stays where it is, as it is.
    config.write_text(config.read_text() + "\nHost later\n  Port 2222\n")
    dev.deleted_at = timezone.now()
    dev.save(update_fields=["deleted_at"])
    dry = cli.ok("config-ssh", "--ssh-config-file", str(config), "--dry-run").stdout
    assert "\n-Host portal.dev\n" in dry
    assert "+Host" not in dry
    cli.ok("config-ssh", "--ssh-config-file", str(config), "-y")
    text = config.read_text()
    assert "portal.dev" not in text
    assert "Host portal.api\n" in text
    assert text.startswith(USER_TEXT + "\n# ------------START")
    assert text.endswith("-----------\n\nHost later\n  Port 2222\n")

    out = cli.ok("config-ssh", "--ssh-config-file", str(config), "--remove", "-y").stdout
    assert f"Removed the Portal section for {label(cli.url)}" in out
    assert config.read_text() == USER_TEXT + "\n\nHost later\n  Port 2222\n"
    again = cli.ok("config-ssh", "--ssh-config-file", str(config), "--remove", "-y").stdout
    assert "No changes" in again


def test_removal_restores_a_file_without_a_last_newline_exactly(cli, member, config):
    workspace(member, name="dev")
    cli.login(member)
    cli.ok("config-ssh", "--ssh-config-file", str(config), "-y")
    assert config.read_text() != USER_TEXT
    cli.ok("config-ssh", "--ssh-config-file", str(config), "--remove", "-y")
    assert config.read_bytes() == USER_TEXT.encode()


def test_default_file_is_created_private_and_changes_need_consent(cli, member):
    workspace(member, name="dev")
    cli.login(member)
    ssh_dir = cli.home / ".ssh"

    refused = cli("config-ssh")  # stdin is not a terminal: no silent change
    assert refused.returncode == 2
    assert "pass --yes" in refused.stderr
    assert not ssh_dir.exists()

    no = prompt(cli, "n")
    assert "+Host portal.dev" in no  # the diff is shown before the question
    assert "Aborted" in no
    assert not (ssh_dir / "config").exists()
    assert "Updated" in prompt(cli, "y")
    assert stat.S_IMODE(ssh_dir.stat().st_mode) == 0o700
    config = ssh_dir / "config"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert config.read_text().startswith("# ------------START-PORTAL-")
    assert [p.name for p in ssh_dir.iterdir()] == ["config"]  # no temp file left behind


def test_two_servers_keep_their_own_sections(cli, member, make_user, config, live_server):
    workspace(member, name="dev")
    workspace(make_user(username="carol"), name="carols")
    cli.login(member)
    cli.ok("config-ssh", "--ssh-config-file", str(config), "-y")
    config.write_text(config.read_text() + "# between\n")
    first = config.read_text()

    # The same server under another name is, for the CLI, another deployment.
    parts = urlsplit(live_server.url)
    other = f"http://127.0.0.1:{parts.port}" if parts.hostname != "127.0.0.1" else None
    if other is None:
        other = f"http://localhost:{parts.port}"
    second = type(cli)(other, cli.home)
    second.ok("login", other, "--username", "carol", "--password", "correct-horse-battery-staple")
    second.ok("config-ssh", "--ssh-config-file", str(config), "-y")
    text = config.read_text()
    assert text.startswith(first)  # the first section and everything before it untouched
    assert f"START-PORTAL-{label(other)}-" in text
    assert ssh_g(config, "portal.dev")["proxycommand"].endswith(
        f'--url "{cli.url}" ssh --stdio dev'
    )
    assert ssh_g(config, "portal.carols")["proxycommand"].endswith(
        f'--url "{other}" ssh --stdio carols'
    )
    # Removing one server's section leaves the other's.
    second.ok("config-ssh", "--ssh-config-file", str(config), "--remove", "-y")
    assert config.read_text() == first


def test_the_proxycommand_uses_only_the_login_of_its_server(cli, member, closed_url):
    cli.login(member)
    assert cli.json("--url", cli.url, "whoami")["username"] == "alice"
    # A ProxyCommand written for another server must not send this server's token there.
    result = cli("--url", closed_url, "whoami")
    assert result.returncode == 1
    assert "not logged in" in result.stderr


def test_broken_section_and_bad_options_change_nothing(cli, member, config):
    workspace(member, name="dev")
    cli.login(member)
    broken = USER_TEXT + f"\n# ------------START-PORTAL-{label(cli.url)}-----------\nHost x\n"
    config.write_text(broken)
    result = cli("config-ssh", "--ssh-config-file", str(config), "-y")
    assert result.returncode == 1
    assert "has a START line but no END line" in result.stderr
    assert "Nothing was changed" in result.stderr
    assert config.read_text() == broken

    config.write_text(USER_TEXT)
    result = cli("config-ssh", "--ssh-config-file", str(config), "-y", "-o", "ForwardAgent")
    assert result.returncode == 2
    assert "'ForwardAgent' is not an ssh option" in result.stderr
    if shutil.which("ssh"):  # OpenSSH would refuse the whole file for one unknown keyword
        result = cli("config-ssh", "--ssh-config-file", str(config), "-y", "-o", "Bad Key yes")
        assert result.returncode == 2
        assert "'Bad Key yes': ssh says Bad configuration option: bad" in result.stderr
    result = cli("config-ssh", "--ssh-config-file", str(config), "-y", "--host-prefix", "a b")
    assert result.returncode == 2
    assert "cannot start a host name" in result.stderr
    assert config.read_text() == USER_TEXT


@needs_ssh
def test_ssh_options_and_prefix_apply_to_every_host(cli, member, config):
    workspace(member, name="dev")
    cli.login(member)
    cli.ok(
        "config-ssh",
        "--ssh-config-file",
        str(config),
        "-y",
        "--host-prefix",
        "ws-",
        "--ssh-option",
        "ForwardAgent yes",
        "-o",
        "LogLevel=DEBUG",
    )
    dev = ssh_g(config, "ws-dev")
    assert dev["forwardagent"] == "yes"
    assert dev["loglevel"] == "DEBUG"  # the user's value replaces ours
    assert dev["proxycommand"].endswith("ssh --stdio dev")
    assert "proxycommand" not in ssh_g(config, "portal.dev")


def test_a_catch_all_host_before_the_section_is_pointed_out(cli, member, config):
    workspace(member, name="dev")
    cli.login(member)
    config.write_text("Host *\n  StrictHostKeyChecking yes\n")
    result = cli.ok("config-ssh", "--ssh-config-file", str(config), "-y")
    assert "warning: Host * (sets stricthostkeychecking) comes before" in result.stderr
    config.write_text("Host *\n  ServerAliveInterval 30\n")
    assert "warning" not in cli.ok("config-ssh", "--ssh-config-file", str(config), "-y").stderr
