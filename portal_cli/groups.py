"""`portal groups list|create|edit|delete|members|add-members|remove-members` over the API."""

from __future__ import annotations

import sys

import click

from portal_cli.client import logged_in, quote
from portal_cli.output import output_option, print_json, print_rows

DEFAULT_LIST_MAX = 1000  # without --limit; a note says when the list is cut

GROUP_COLUMNS = (
    ("NAME", lambda g: g["name"]),
    ("DISPLAY NAME", lambda g: g["display_name"]),
    ("SOURCE", lambda g: "everyone" if g["is_everyone"] else g["source"]),
    ("MEMBERS", lambda g: str(g["member_count"])),
    ("QUOTA ALLOWANCE", lambda g: str(g["quota_allowance"])),
)
MEMBER_COLUMNS = (
    ("USERNAME", lambda u: u["username"]),
    ("NAME", lambda u: u["name"]),
    ("EMAIL", lambda u: u.get("email", "")),
    ("STATUS", lambda u: u["status"]),
)


@click.group()
def groups() -> None:
    """Manage groups of users (changes need the owner or user-admin role)."""


@groups.command("list")
@click.option("-s", "--search", help="Part of a group name or display name.")
@click.option("-m", "--member", help='Only the groups of this user ("me" for yours).')
@click.option("--source", type=click.Choice(["user", "oidc", "scim"]))
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help=f"Show at most this many groups (default: all, up to {DEFAULT_LIST_MAX}).",
)
@output_option
def list_groups(
    search: str | None, member: str | None, source: str | None, limit: int | None, output: str
) -> None:
    """List the groups you may see (yours; all of them for admins and auditors)."""
    with logged_in() as client:
        rows, count = client.list_all(
            "/groups", limit=limit or DEFAULT_LIST_MAX, q=search, member=member, source=source
        )
    print_rows(output, rows, GROUP_COLUMNS)
    if count > len(rows):
        click.echo(f"Showing {len(rows)} of {count} groups; narrow with --search.", err=True)


def _fields(display_name: str | None, avatar_url: str | None, quota_allowance: int | None) -> dict:
    body: dict = {}
    if display_name is not None:
        body["display_name"] = display_name
    if avatar_url is not None:
        body["avatar_url"] = avatar_url
    if quota_allowance is not None:
        body["quota_allowance"] = quota_allowance
    return body


display_name_option = click.option("--display-name", help="A name for people to read.")
avatar_url_option = click.option("--avatar-url", help="An image URL shown with the group.")
allowance_option = click.option(
    "--quota-allowance",
    type=click.IntRange(min=0),
    help="What members may spend a day (workspace quotas), a whole number.",
)


def _show(output: str, group: dict, sentence: str) -> None:
    if output == "json":
        print_json(group)
    else:
        click.echo(sentence)


@groups.command("create")
@click.argument("name")
@display_name_option
@avatar_url_option
@allowance_option
@output_option
def create_group(
    name: str,
    display_name: str | None,
    avatar_url: str | None,
    quota_allowance: int | None,
    output: str,
) -> None:
    """Create the group NAME (lowercase letters, digits, '-' and '_')."""
    with logged_in() as client:
        group = client.post(
            "/groups", {"name": name, **_fields(display_name, avatar_url, quota_allowance)}
        )
    _show(output, group, f"Created group {group['name']}.")


@groups.command("edit")
@click.argument("name")
@click.option("--name", "new_name", help="Rename the group.")
@display_name_option
@avatar_url_option
@allowance_option
@output_option
def edit_group(
    name: str,
    new_name: str | None,
    display_name: str | None,
    avatar_url: str | None,
    quota_allowance: int | None,
    output: str,
) -> None:
    """Change the group NAME (only the quota allowance of a group an identity provider owns)."""
    body = _fields(display_name, avatar_url, quota_allowance)
    if new_name is not None:
        body["name"] = new_name
    if not body:
        raise click.UsageError(
            "nothing to change: give --name, --display-name, --avatar-url or --quota-allowance."
        )
    with logged_in() as client:
        group = client.request("PATCH", f"/groups/{quote(name)}", json=body)
    _show(output, group, f"Updated group {group['name']}.")


@groups.command("delete")
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_group(name: str, yes: bool) -> None:
    """Delete the group NAME (its members stay; they leave the group)."""
    with logged_in() as client:
        group = client.get(f"/groups/{quote(name)}")
        if not yes:
            if not sys.stdin.isatty():
                raise click.UsageError("no terminal to confirm on: pass --yes.")
            click.confirm(
                f"Delete group {group['name']} ({group['member_count']} members)?", abort=True
            )
        client.delete(f"/groups/{quote(group['name'])}")
    click.echo(f"Deleted group {group['name']}.")


@groups.command("members")
@click.argument("name")
@output_option
def list_members(name: str, output: str) -> None:
    """List the members of the group NAME."""
    with logged_in() as client:
        rows, count = client.list_all(f"/groups/{quote(name)}/members", limit=DEFAULT_LIST_MAX)
    print_rows(output, rows, MEMBER_COLUMNS)
    if count > len(rows):
        click.echo(f"Showing {len(rows)} of {count} members.", err=True)


def _change_members(method: str, name: str, users: tuple[str, ...]) -> dict:
    with logged_in() as client:
        return client.request(method, f"/groups/{quote(name)}/members", json={"users": list(users)})


@groups.command("add-members")
@click.argument("name")
@click.argument("users", nargs=-1, required=True)
def add_members(name: str, users: tuple[str, ...]) -> None:
    """Add USERS (usernames or ids) to the group NAME; all or none if one is unknown."""
    result = _change_members("POST", name, users)
    added = result["added"]
    already = len(set(users)) - len(added)
    message = f"Added {', '.join(added)} to {result['group']['name']}." if added else ""
    if already > 0:
        message += f" {already} already a member." if added else "All were already members."
    click.echo(message.strip())


@groups.command("remove-members")
@click.argument("name")
@click.argument("users", nargs=-1, required=True)
def remove_members(name: str, users: tuple[str, ...]) -> None:
    """Remove USERS (usernames or ids) from the group NAME."""
    result = _change_members("DELETE", name, users)
    removed = result["removed"]
    if removed:
        click.echo(f"Removed {', '.join(removed)} from {result['group']['name']}.")
    else:
        click.echo(f"None of them was a member of {result['group']['name']}.")
