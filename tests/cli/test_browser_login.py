"""`portal login URL` through the browser (a fake one: an HTTP session doing what the page's
buttons do), the paste fallback, and `portal users password|reset-password|login-type`."""

from __future__ import annotations

import re
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import httpx
import pexpect

from portal.accounts import services
from portal.accounts.choices import Role
from portal.accounts.models import APIToken, User
from tests.cli.conftest import REPO
from tests.conftest import PASSWORD

NEW = "a-Better-passw0rd!"


def _signed_in_browser(url: str, user, password: str = PASSWORD) -> httpx.Client:
    browser = httpx.Client(base_url=url, timeout=30)
    browser.get("/login")
    form = {"login": user.username, "password": password}
    signed_in = browser.post("/login", data=form, headers=_csrf(browser, url))
    assert signed_in.status_code == 302, signed_in.text
    return browser


def _csrf(browser: httpx.Client, url: str) -> dict:
    return {"X-CSRFToken": browser.cookies["csrftoken"], "Referer": url + "/"}


def _start_login(cli, *extra: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "portal", "login", cli.url, "--no-open", *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
        cwd=REPO,
    )
    for _ in range(5):
        line = process.stdout.readline()
        if "/cli-auth?" in line:
            return process, line.strip()
    process.kill()
    raise AssertionError(process.stderr.read())


def _authorize(browser: httpx.Client, url: str, page_url: str) -> tuple[str, str, str]:
    """What the Authorize button does; returns (callback URL, state, token) from the page."""
    parts = urlsplit(page_url)
    page = browser.get(f"{parts.path}?{parts.query}")
    assert page.status_code == 200, page.text
    assert "Authorize" in page.text
    form = {k: v[0] for k, v in parse_qs(parts.query).items()}
    done = browser.post("/cli-auth", data=form, headers=_csrf(browser, url))
    assert done.status_code == 200, done.text
    callback = re.search(r'<form method="post" action="([^"]+)"', done.text).group(1)
    state = re.search(r'name="state" value="([^"]+)"', done.text).group(1)
    token = re.search(r'name="token" value="([^"]+)"', done.text).group(1)
    return callback, state, token


def test_browser_sign_in_end_to_end(cli, member):
    browser = _signed_in_browser(cli.url, member)
    process, page_url = _start_login(cli, "--timeout", "60")
    query = parse_qs(urlsplit(page_url).query)
    assert page_url.startswith(f"{cli.url}/cli-auth?")
    callback, state, token = _authorize(browser, cli.url, page_url)
    assert callback == f"http://127.0.0.1:{query['port'][0]}/callback"

    # Someone else's page posting a token with a wrong state is refused; the CLI keeps waiting.
    forged = httpx.post(callback, data={"state": "x" * 32, "token": "forged"})
    assert forged.status_code == 400
    assert process.poll() is None

    answer = httpx.post(callback, data={"state": state, "token": token})  # the page's form
    assert answer.status_code == 200
    assert "You can close this tab" in answer.text
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert f"Logged in as alice at {cli.url}" in stdout
    assert cli.saved_token() == token
    assert cli.json("whoami")["username"] == "alice"
    saved = APIToken.objects.get(key_id=token.split("-", 1)[0])
    assert saved.name.startswith("cli (")


def test_browser_sign_in_gives_up_after_the_timeout(cli, member):
    result = cli("login", cli.url, "--no-open", "--timeout", "1")
    assert result.returncode == 1
    assert "/cli-auth?port=" in result.stdout
    assert "no token arrived within 1 seconds" in result.stderr
    assert not (cli.config_dir / "session").exists()


def test_on_a_terminal_the_token_can_be_pasted(cli, member):
    _, secret = services.create_token(member, actor=member, name="cli (elsewhere)")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "portal", "login", cli.url, "--no-open"],
        env=cli.env,
        encoding="utf-8",
        timeout=30,
    )
    child.expect("/cli-auth")
    child.expect("Paste your token")
    child.sendline(secret)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "Logged in as alice" in child.before
    assert cli.saved_token() == secret


def test_password_login_when_password_auth_is_off_says_to_use_the_browser(cli, member, settings):
    settings.PORTAL_PASSWORD_AUTH_DISABLED = True
    result = cli("login", cli.url, "-u", "alice", "-p", PASSWORD)
    assert result.returncode == 1
    assert "Password sign-in is turned off" in result.stderr
    assert "without --username to sign in through the browser" in result.stderr


def test_users_password_changes_it_from_stdin_and_a_wrong_one_is_explained(cli, member):
    cli.login(member)
    wrong = cli("users", "password", "--stdin", input=f"not-it\n{NEW}\n")
    assert wrong.returncode == 1
    assert "The current password is not correct." in wrong.stderr

    done = cli.ok("users", "password", "--stdin", input=f"{PASSWORD}\n{NEW}\n")
    assert "Password changed" in done.stdout
    assert cli.json("whoami")["username"] == "alice"  # this session stays
    assert User.objects.get(username="alice").check_password(NEW)

    missing = cli("users", "password", "--stdin", input=f"{NEW}\n")
    assert missing.returncode == 2


def test_reset_prints_a_one_time_password_that_must_be_changed(cli, owner, member, tmp_path):
    cli.login(owner)
    result = cli.ok("users", "reset-password", "alice")
    once = re.search(r"One-time password for alice: (\S+)", result.stdout).group(1)
    assert "not shown again" in result.stderr

    from tests.cli.conftest import CLI

    alice = CLI(cli.url, tmp_path / "alice")
    signed_in = alice.ok("login", cli.url, "-u", "alice", "-p", once)
    assert "choose your own now with `portal users password`" in signed_in.stderr
    refused = alice("list")
    assert refused.returncode == 1
    assert "one-time password" in refused.stderr
    alice.ok("users", "password", "--stdin", input=f"{once}\n{NEW}\n")
    alice.ok("list")


def test_login_type_conversion_from_the_cli(cli, owner, member, make_user):
    make_user(Role.USER_ADMIN, username="ua")
    cli.login(owner)
    assert "alice now has login type oidc." in cli.ok("users", "login-type", "alice", "oidc").stdout
    refused = cli("login", cli.url, "-u", "alice", "-p", PASSWORD)
    assert "This account signs in with OIDC." in refused.stderr

    cli.login(owner)
    back = cli.json("users", "login-type", "alice", "password")
    assert back["user"]["must_change_password"] is True
    assert back["one_time_password"]

    cli.ok("login", cli.url, "-u", "ua", "-p", PASSWORD)
    denied = cli("users", "login-type", "alice", "none")
    assert denied.returncode == 1
    assert "owner" in denied.stderr


def test_users_password_prompts_without_echo_on_a_terminal(cli, member):
    cli.login(member)
    child = pexpect.spawn(
        sys.executable, ["-m", "portal", "users", "password"], env=cli.env, encoding="utf-8"
    )
    child.expect("Current password: ")
    child.sendline(PASSWORD)
    child.expect("New password: ")
    child.sendline(NEW)
    child.expect("Repeat for confirmation: ")
    child.sendline(NEW)
    child.expect(pexpect.EOF, timeout=30)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "Password changed" in child.before
    assert PASSWORD not in child.before and NEW not in child.before


def test_on_a_terminal_a_one_time_password_is_replaced_at_sign_in(cli, owner, member):
    from portal.accounts import passwords

    once = passwords.reset_password(member, actor=owner)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "portal", "login", cli.url, "-u", "alice"],
        env=cli.env,
        encoding="utf-8",
        timeout=30,
    )
    child.expect("Password: ")
    child.sendline(once)
    child.expect("choose your own to continue")
    child.expect("New password: ")
    child.sendline("short")
    child.expect("Repeat for confirmation: ")
    child.sendline("short")
    child.expect("too short")
    child.expect("New password: ")
    child.sendline(NEW)
    child.expect("Repeat for confirmation: ")
    child.sendline(NEW)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "Password changed." in child.before
    assert User.objects.get(username="alice").check_password(NEW)
    assert cli.json("whoami")["must_change_password"] is False
