"""`portal provisioner keys create|list|revoke` and `portal provisioner list`: external daemons."""

from __future__ import annotations

import click

from portal_cli.client import logged_in, quote
from portal_cli.output import output_option, print_json, print_rows, when

LIST_MAX = 1000


def _tags(tags: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((tags or {}).items())) or "-"


KEY_COLUMNS = (
    ("NAME", lambda k: k["name"]),
    ("TAGS", lambda k: _tags(k["tags"])),
    ("CREATED BY", lambda k: k["created_by"] or "-"),
    ("CREATED", lambda k: when(k["created_at"])),
    ("LAST USED", lambda k: when(k["last_used_at"])),
)
DAEMON_COLUMNS = (
    ("NAME", lambda d: d["name"]),
    ("KIND", lambda d: d["kind"]),
    ("KEY", lambda d: d["key_name"] or "-"),
    ("TAGS", lambda d: _tags(d["tags"])),
    ("VERSION", lambda d: d["version"] or "-"),
    ("LAST SEEN", lambda d: when(d["last_seen_at"])),
    ("STATUS", lambda d: "online" if d["online"] else "offline"),
    ("CURRENT JOB", lambda d: d["current_job"] or "-"),
)


def _parse_tags(values: tuple[str, ...]) -> dict[str, str]:
    tags = {}
    for value in values:
        name, sep, val = value.partition("=")
        if not sep or not name or not val:
            raise click.BadParameter(f"{value!r}: a tag is KEY=VALUE.", param_hint="--tag")
        tags[name] = val
    return tags


@click.group()
def provisioner() -> None:
    """Provisioners: the built-in workers and external daemons (`portal provisionerd start`)."""


@provisioner.command("list")
@click.option(
    "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Only those that serve these tags."
)
@output_option
def list_provisioners(tags: tuple[str, ...], output: str) -> None:
    """List provisioners with their tags, version, last contact and current job."""
    params = {}
    if tags:
        params["tags"] = ",".join(f"{k}={v}" for k, v in _parse_tags(tags).items())
    with logged_in() as client:
        rows, _ = client.list_all("/provisionerdaemons", limit=LIST_MAX, **params)
    print_rows(output, rows, DAEMON_COLUMNS)


@provisioner.group()
def keys() -> None:
    """Manage provisioner keys (owners): what external daemons authenticate with."""


@keys.command("create")
@click.argument("name")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag it may serve.")
@output_option
def create_key(name: str, tags: tuple[str, ...], output: str) -> None:
    """Create a key named NAME; its secret is printed once, on stdout."""
    with logged_in() as client:
        key = client.post("/provisionerkeys", {"name": name, "tags": _parse_tags(tags)})
    if output == "json":
        print_json(key)
    else:
        click.echo(key["key"])
    click.echo(
        f"Created provisioner key {key['name']!r} (tags: {_tags(key['tags'])}). Start a daemon "
        f"with `portal provisionerd start --url {client.url.rstrip('/')} --key <key>`. "
        "This is the only time the secret is shown.",
        err=True,
    )


@keys.command("list")
@output_option
def list_keys(output: str) -> None:
    """List the live keys (never their secrets)."""
    with logged_in() as client:
        rows, _ = client.list_all("/provisionerkeys", limit=LIST_MAX)
    print_rows(output, rows, KEY_COLUMNS)


@keys.command("revoke")
@click.argument("name")
def revoke_key(name: str) -> None:
    """Revoke the key NAME: its daemons are cut off and their running jobs fail."""
    with logged_in() as client:
        client.delete(f"/provisionerkeys/{quote(name)}")
    click.echo(f"Revoked provisioner key {name}.")
