"""`portal tokens create|list|remove`: your API tokens for scripts and CI."""

from __future__ import annotations

import re

import click

from portal_cli.client import logged_in, quote
from portal_cli.output import output_option, print_json, print_rows, when

LIST_MAX = 1000
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_LIFETIME = re.compile(r"(\d+)\s*([smhdw]?)")


class Lifetime(click.ParamType):
    """`30d`, `12h`, `90m`, `3600s` or plain seconds, as a number of seconds."""

    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        match = _LIFETIME.fullmatch(str(value).strip().lower())
        if not match or int(match[1]) == 0:
            self.fail(f"{value!r} is not a duration; use e.g. 30d, 12h, 90m or 3600s.", param, ctx)
        return int(match[1]) * _UNITS[match[2] or "s"]


TOKEN_COLUMNS = (
    ("ID", lambda t: t["key_id"]),
    ("NAME", lambda t: t["name"]),
    ("CREATED", lambda t: when(t["created_at"])),
    ("LAST USED", lambda t: when(t["last_used_at"])),
    ("EXPIRES", lambda t: when(t["expires_at"])),
)


@click.group()
def tokens() -> None:
    """Manage your API tokens, for scripts and CI.

    A script uses one by setting PORTAL_URL and PORTAL_SESSION_TOKEN=<token>.
    """


@tokens.command("create")
@click.option("-n", "--name", required=True, help="A name to recognise the token by.")
@click.option(
    "--lifetime",
    type=Lifetime(),
    help="How long the token lives: 30d, 12h, 90m, 3600s (default: the server's, 30 days).",
)
@output_option
def create_token(name: str, lifetime: int | None, output: str) -> None:
    """Create a token; its secret is printed once, on stdout."""
    body: dict = {"name": name}
    if lifetime:
        body["lifetime_seconds"] = lifetime
    with logged_in() as client:
        token = client.post("/users/me/tokens", body)
    if output == "json":
        print_json(token)
    else:
        click.echo(token["key"])
    # The note goes to stderr so `TOKEN=$(portal tokens create ...)` captures just the secret.
    click.echo(
        f"Created token {token['name']!r} (id {token['key_id']}, expires "
        f"{when(token['expires_at'])}). This is the only time the secret is shown; store it now.",
        err=True,
    )


@tokens.command("list")
@output_option
def list_tokens(output: str) -> None:
    """List your live tokens (not their secrets)."""
    with logged_in() as client:
        rows, _ = client.list_all("/users/me/tokens", limit=LIST_MAX)
    print_rows(output, rows, TOKEN_COLUMNS)


@tokens.command("remove")
@click.argument("token")
def remove_token(token: str) -> None:
    """Revoke TOKEN, given by name or id; it stops working at once."""
    with logged_in() as client:
        client.delete(f"/users/me/tokens/{quote(token)}")
    click.echo(f"Removed token {token}.")
