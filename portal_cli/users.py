"""`portal users list|create|suspend|activate|roles|unlock|password|reset-password|login-type`."""

from __future__ import annotations

import sys

import click

from portal_cli.auth import read_password_stdin
from portal_cli.client import logged_in, quote
from portal_cli.output import output_option, print_json, print_rows, when

DEFAULT_LIST_MAX = 1000  # without --limit; enough for a terminal, and a note says when cut

USER_COLUMNS = (
    ("USERNAME", lambda u: u["username"]),
    ("NAME", lambda u: u["name"]),
    ("EMAIL", lambda u: u["email"]),
    ("STATUS", lambda u: u["status"]),
    ("ROLES", lambda u: ", ".join(u["roles"])),
    ("LOGIN", lambda u: u["login_type"]),
    ("LAST SEEN", lambda u: when(u["last_seen_at"])),
)


@click.group()
def users() -> None:
    """Manage users (needs the owner or user-admin role)."""


@users.command("list")
@click.option("-s", "--search", help="Part of a username or email.")
@click.option("--status", type=click.Choice(["active", "dormant", "suspended"]))
@click.option("--role", help="Only users with this role, e.g. owner or template-admin.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help=f"Show at most this many users (default: all, up to {DEFAULT_LIST_MAX}).",
)
@output_option
def list_users(
    search: str | None, status: str | None, role: str | None, limit: int | None, output: str
) -> None:
    """List users, sorted by username."""
    with logged_in() as client:
        rows, count = client.list_all(
            "/users", limit=limit or DEFAULT_LIST_MAX, q=search, status=status, role=role
        )
    print_rows(output, rows, USER_COLUMNS)
    if count > len(rows):
        more = "raise --limit" if limit else "pass --limit"
        click.echo(
            f"Showing {len(rows)} of {count} users; narrow with --search, --status or --role, "
            f"or {more}.",
            err=True,
        )


@users.command("create")
@click.argument("username")
@click.option("-e", "--email", required=True, help="Email address.")
@click.option("-n", "--name", default="", help="Full name.")
@click.option("-p", "--password", help="Password (prompted for on a terminal).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
@click.option(
    "-r",
    "--role",
    "roles",
    multiple=True,
    help="A role to grant (repeat for several); everyone is a member.",
)
@click.option(
    "--login-type",
    type=click.Choice(["password", "oidc", "none"]),
    default="password",
    show_default=True,
    help="How the user signs in; `none` is for service accounts that use API tokens.",
)
def create_user(
    username: str,
    email: str,
    name: str,
    password: str | None,
    password_stdin: bool,
    roles: tuple[str, ...],
    login_type: str,
) -> None:
    """Create the user USERNAME."""
    if password and password_stdin:
        raise click.UsageError("give either --password or --password-stdin, not both.")
    if login_type != "password" and (password or password_stdin):
        raise click.UsageError(f"a user with --login-type {login_type} has no password.")
    if login_type == "password":
        if password_stdin:
            password = read_password_stdin()
        elif not password:
            if not sys.stdin.isatty():
                raise click.UsageError(
                    "no password given and no terminal to ask on: pass --password or "
                    "--password-stdin (or --login-type none/oidc)."
                )
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    body = {
        "username": username,
        "email": email,
        "name": name,
        "login_type": login_type,
        "roles": list(roles),
    }
    if password:
        body["password"] = password
    with logged_in() as client:
        user = client.post("/users", body)
    click.echo(f"Created user {user['username']} with roles: {', '.join(user['roles'])}.")


def _set_status(username: str, status: str, reason: str = "") -> dict:
    with logged_in() as client:
        return client.put(f"/users/{quote(username)}/status", {"status": status, "reason": reason})


@users.command("suspend")
@click.argument("username")
@click.option("--reason", default="", help="Why, for the audit log.")
def suspend_user(username: str, reason: str) -> None:
    """Suspend USERNAME: no more sign-ins or API calls."""
    user = _set_status(username, "suspended", reason)
    click.echo(f"Suspended {user['username']}.")


@users.command("activate")
@click.argument("username")
def activate_user(username: str) -> None:
    """Reactivate the suspended or dormant user USERNAME."""
    user = _set_status(username, "active")
    click.echo(f"Activated {user['username']}.")


@users.command("unlock")
@click.argument("username")
def unlock_user(username: str) -> None:
    """Let USERNAME sign in again after too many failed sign-ins (clears their failures)."""
    with logged_in() as client:
        result = client.post(f"/users/{quote(username)}/unlock", {})
    if result["cleared_failures"]:
        click.echo(
            f"Unlocked {result['username']}: cleared {result['cleared_failures']} failed "
            "sign-in(s)."
        )
    else:
        click.echo(f"{result['username']} had no failed sign-ins to clear.")


@users.command("roles")
@click.argument("username")
@click.option(
    "-r",
    "--role",
    "roles",
    multiple=True,
    required=True,
    help="A role USERNAME should have (repeat for several); the roles given replace the old ones.",
)
def set_roles(username: str, roles: tuple[str, ...]) -> None:
    """Set the roles of USERNAME (member is always included)."""
    with logged_in() as client:
        user = client.put(f"/users/{quote(username)}/roles", {"roles": list(roles)})
    click.echo(f"{user['username']} now has roles: {', '.join(user['roles'])}.")


def _read_two_lines() -> tuple[str, str]:
    old = sys.stdin.readline().rstrip("\r\n")
    new = sys.stdin.readline().rstrip("\r\n")
    if not old or not new:
        raise click.UsageError(
            "--stdin reads two lines: the current password, then the new one; one was missing."
        )
    return old, new


@users.command("password")
@click.option(
    "--stdin",
    "from_stdin",
    is_flag=True,
    help="For scripts: read the current password, then the new one, from stdin (a line each).",
)
def change_password(from_stdin: bool) -> None:
    """Change your own password (the current one is required).

    Your other sessions (browsers, other `portal login`s) are signed out; this one and named
    API tokens keep working.
    """
    if from_stdin:
        old, new = _read_two_lines()
    else:
        if not sys.stdin.isatty():
            raise click.UsageError("no terminal to ask on: pass --stdin (two lines: current, new).")
        old = click.prompt("Current password", hide_input=True)
        new = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with logged_in() as client:
        result = client.put("/users/me/password", {"old_password": old, "password": new})
    ended = result["sessions_ended"] + result["tokens_revoked"]
    click.echo(f"Password changed; {ended} other session(s) signed out.")


@users.command("reset-password")
@click.argument("username")
@output_option
def reset_password(username: str, output: str) -> None:
    """Give USERNAME a one-time password (printed once) to change at their next sign-in.

    Their sessions end. Owners and user admins; only an owner resets an owner.
    """
    with logged_in() as client:
        result = client.post(f"/users/{quote(username)}/password/reset", {})
    if output == "json":
        print_json(result)
        return
    click.echo(f"One-time password for {result['username']}: {result['one_time_password']}")
    click.echo(
        "It is not shown again. They sign in with it and must then choose their own password.",
        err=True,
    )


@users.command("login-type")
@click.argument("username")
@click.argument("login_type", type=click.Choice(["password", "oidc", "none"]))
@output_option
def set_login_type(username: str, login_type: str, output: str) -> None:
    """Set how USERNAME signs in (owners only).

    oidc: their password stops working and their next single sign-on with the same email links
    the account. password: prints a one-time password to change at the next sign-in. none: no
    sign-in at all (a service account using API tokens).
    """
    with logged_in() as client:
        result = client.request(
            "PATCH", f"/users/{quote(username)}/login-type", json={"login_type": login_type}
        )
    if output == "json":
        print_json(result)
        return
    user = result["user"]
    click.echo(f"{user['username']} now has login type {user['login_type']}.")
    if result.get("one_time_password"):
        click.echo(f"One-time password: {result['one_time_password']}")
        click.echo("It is not shown again; they must change it at their next sign-in.", err=True)
