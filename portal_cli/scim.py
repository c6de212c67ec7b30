"""`portal scim keys create|list|delete`: the bearer keys identity providers provision with."""

from __future__ import annotations

import click

from portal_cli.client import logged_in, quote
from portal_cli.output import output_option, print_json, print_rows, when

LIST_MAX = 1000

KEY_COLUMNS = (
    ("NAME", lambda k: k["name"]),
    ("CREATED BY", lambda k: k["created_by"] or "-"),
    ("CREATED", lambda k: when(k["created_at"])),
    ("LAST USED", lambda k: when(k["last_used_at"])),
)


@click.group()
def scim() -> None:
    """SCIM 2.0 provisioning: the keys an identity provider (Okta, Entra ID) sends."""


@scim.group()
def keys() -> None:
    """Manage SCIM keys (owners). Several may be live at once, to rotate without downtime."""


@keys.command("create")
@click.argument("name")
@output_option
def create_key(name: str, output: str) -> None:
    """Create a key named NAME; its secret is printed once, on stdout."""
    with logged_in() as client:
        key = client.post("/scim/keys", {"name": name})
    if output == "json":
        print_json(key)
    else:
        click.echo(key["key"])
    click.echo(
        f"Created SCIM key {key['name']!r}. Give it to your identity provider with the SCIM URL "
        f"{client.url.rstrip('/')}/scim/v2 . This is the only time the secret is shown.",
        err=True,
    )


@keys.command("list")
@output_option
def list_keys(output: str) -> None:
    """List the live keys (never their secrets)."""
    with logged_in() as client:
        rows, _ = client.list_all("/scim/keys", limit=LIST_MAX)
    print_rows(output, rows, KEY_COLUMNS)


@keys.command("delete")
@click.argument("name")
def delete_key(name: str) -> None:
    """Revoke the key NAME: the identity provider's next request with it is refused."""
    with logged_in() as client:
        client.delete(f"/scim/keys/{quote(name)}")
    click.echo(f"Revoked SCIM key {name}.")
