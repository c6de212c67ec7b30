"""`portal login`, `logout` and `whoami` against a live server, as a user runs them."""

from __future__ import annotations

import stat
import sys

import pexpect

from portal.accounts import services
from portal.accounts.choices import Role
from tests.conftest import PASSWORD


def test_login_with_flags_saves_private_credentials_and_whoami_uses_them(cli, owner):
    result = cli.login(owner)
    assert result.stdout.startswith("Logged in as admin")

    for name in ("url", "session"):
        path = cli.config_dir / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (cli.config_dir / "url").read_text().strip() == cli.url

    table = cli.ok("whoami").stdout
    assert "admin@example.com" in table
    assert "owner" in table
    assert cli.url in table

    me = cli.json("whoami")
    assert me["username"] == "admin"
    assert me["email"] == "admin@example.com"
    assert Role.OWNER in me["roles"]
    assert me["url"] == cli.url


def test_without_xdg_config_home_credentials_go_to_home_config(cli, member):
    del cli.env["XDG_CONFIG_HOME"]
    cli.login(member)
    assert (cli.home / ".config" / "portal" / "session").exists()
    assert cli.json("whoami")["username"] == "alice"


def test_wrong_password_fails_on_stderr_and_saves_nothing(cli, member):
    result = cli("login", cli.url, "--username", "alice", "--password", "not-it")
    assert result.returncode == 1
    assert "Incorrect username, email or password" in result.stderr
    assert result.stdout == ""
    assert not (cli.config_dir / "session").exists()


def test_without_a_terminal_missing_flags_are_named(cli, member):
    result = cli("login", cli.url, "--username", "alice")
    assert result.returncode == 2
    assert "--password" in result.stderr
    assert not (cli.config_dir / "session").exists()


def test_password_can_come_from_stdin(cli, member):

    result = cli.ok(
        "login", cli.url, "-u", "alice@example.com", "--password-stdin", input=PASSWORD + "\n"
    )
    assert "Logged in as alice" in result.stdout


def test_login_with_a_token_checks_it_first(cli, member, system):
    _, secret = services.create_token(member, actor=member, name="laptop")
    result = cli.ok("login", cli.url, "--token", secret)
    assert "Logged in as alice" in result.stdout
    assert cli.saved_token() == secret
    assert cli.json("whoami")["username"] == "alice"

    bad = cli("login", cli.url, "--token", secret[:-4] + "xxxx")
    assert bad.returncode == 1
    assert "did not accept the token" in bad.stderr
    assert cli.saved_token() == secret  # the good login is kept


def test_token_and_password_together_is_a_usage_error(cli, member):
    result = cli("login", cli.url, "--token", "abc", "--password", "x")
    assert result.returncode == 2
    assert "either --token or --username/--password" in result.stderr


def test_env_vars_override_saved_credentials(cli, owner, member, closed_url):
    cli.login(owner)
    _, secret = services.create_token(member, actor=member, name="ci")

    me = cli.json("whoami", env={"PORTAL_SESSION_TOKEN": secret})
    assert me["username"] == "alice"

    # The saved URL is ignored too: PORTAL_URL points nowhere, so the command cannot connect.
    result = cli("whoami", env={"PORTAL_URL": closed_url})
    assert result.returncode == 1
    assert f"cannot reach {closed_url}" in result.stderr


def test_env_vars_alone_need_no_login(cli, member):
    _, secret = services.create_token(member, actor=member, name="ci")
    env = {"PORTAL_URL": cli.url, "PORTAL_SESSION_TOKEN": secret}
    assert cli.json("whoami", env=env)["username"] == "alice"


def test_logout_ends_the_session_and_later_commands_say_how_to_log_in(cli, member):
    cli.login(member)
    session = cli.saved_token()

    result = cli.ok("logout")
    assert "Logged out" in result.stdout
    assert not (cli.config_dir / "session").exists()

    result = cli("whoami")
    assert result.returncode == 1
    assert "not logged in: run `portal login URL`" in result.stderr

    # The old session no longer works against the server either.
    env = {"PORTAL_URL": cli.url, "PORTAL_SESSION_TOKEN": session}
    result = cli("whoami", env=env)
    assert result.returncode == 1
    assert "revoked" in result.stderr
    assert "PORTAL_SESSION_TOKEN" in result.stderr


def test_logout_forgets_locally_when_the_server_is_unreachable(cli, member, closed_url):
    cli.login(member)
    (cli.config_dir / "url").write_text(closed_url)

    result = cli("logout")
    assert result.returncode == 0
    assert f"cannot reach {closed_url}" in result.stderr
    assert not (cli.config_dir / "session").exists()
    assert not (cli.config_dir / "url").exists()


def test_unreachable_server_is_reported_with_its_url(cli, closed_url):
    result = cli("login", closed_url, "-u", "alice", "-p", "x")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot reach {closed_url}: ")


def test_a_url_that_is_not_portal_is_refused(cli, member):
    result = cli("login", cli.url + "/admin", "-u", "alice", "-p", "x")
    assert result.returncode == 1
    assert "Portal server" in result.stderr


def test_on_a_terminal_login_prompts_and_hides_the_password(cli, member):
    child = pexpect.spawn(
        sys.executable,
        ["-m", "portal", "login", cli.url, "--username", "alice"],
        env=cli.env,
        encoding="utf-8",
        timeout=30,
    )
    # Without --username it signs in through the browser (tests/cli/test_browser_login.py).
    child.expect("Password: ")
    child.sendline(PASSWORD)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert PASSWORD not in child.before
    assert "Logged in as alice" in child.before
    assert cli.json("whoami")["username"] == "alice"


def test_a_path_that_does_not_answer_json_is_not_a_portal_server(cli):
    result = cli("login", cli.url + "/nothing-here", "-u", "alice", "-p", "x")
    assert result.returncode == 1
    assert "is this the URL of a Portal server?" in result.stderr


def test_logout_when_not_logged_in_is_harmless(cli):
    result = cli.ok("logout")
    assert "Not logged in" in result.stdout


def test_login_warns_when_the_env_token_will_win(cli, member):
    result = cli.ok(
        "login", cli.url, "-u", "alice", "-p", PASSWORD, env={"PORTAL_SESSION_TOKEN": "x"}
    )
    assert "PORTAL_SESSION_TOKEN is set and overrides the saved session" in result.stderr
