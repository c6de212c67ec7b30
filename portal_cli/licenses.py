"""`portal licenses add|list|delete` and `portal features list`: licensing over the API."""

from __future__ import annotations

import click

from portal_cli.client import CLIError, logged_in
from portal_cli.output import output_option, print_json, print_rows, print_table, when


def _features(row: dict) -> str:
    claims = row["claims"]
    if claims.get("all_features"):
        return "all"
    return ", ".join(
        f"{name}={value}" if name == "user_limit" else name
        for name, value in sorted(claims.get("features", {}).items())
        if value
    )


LICENSE_COLUMNS = (
    ("ID", lambda r: str(r["id"])),
    ("ACCOUNT", lambda r: str(r["claims"].get("account_id", ""))),
    ("FEATURES", _features),
    ("EXPIRES", lambda r: when(r["license_expires"])),
    ("GRACE UNTIL", lambda r: when(r["exp"])),
    ("TRIAL", lambda r: "yes" if r["claims"].get("trial") else "no"),
)


@click.group()
def licenses() -> None:
    """Manage licenses (owners; auditors may list)."""


@licenses.command("add")
@click.argument("file", type=click.File("r"), default="-")
@output_option
def add_license(file, output: str) -> None:
    """Upload the license in FILE (`-` or nothing: read it from stdin)."""
    text = file.read().strip()
    if not text:
        raise CLIError("no license given: pass its file, or pipe it in.")
    with logged_in() as client:
        row = client.post("/licenses", {"license": text})
    if output == "json":
        print_json(row)
    else:
        click.echo(f"Added license {row['id']} ({_features(row) or 'no features'}).")


@licenses.command("list")
@output_option
def list_licenses(output: str) -> None:
    """List the uploaded licenses."""
    with logged_in() as client:
        rows, _ = client.list_all("/licenses", limit=1000)
    print_rows(output, rows, LICENSE_COLUMNS)


@licenses.command("delete")
@click.argument("license_id", metavar="ID", type=int)
def delete_license(license_id: int) -> None:
    """Delete license ID; the features only it granted switch off (their data is kept)."""
    with logged_in() as client:
        client.delete(f"/licenses/{license_id}")
    click.echo(f"Deleted license {license_id}.")


@click.group()
def features() -> None:
    """Which enterprise features this deployment's licenses turn on."""


@features.command("list")
@output_option
def list_features(output: str) -> None:
    """The entitlements: each feature, whether it is on, its limit and use; then warnings."""
    with logged_in() as client:
        body = client.get("/entitlements")
    if output == "json":
        print_json(body)
        return
    print_table(
        ["FEATURE", "ENTITLEMENT", "ENABLED", "LIMIT", "ACTUAL"],
        (
            [
                name,
                row["entitlement"],
                "yes" if row["enabled"] else "no",
                "" if row["limit"] is None else str(row["limit"]),
                "" if row["actual"] is None else str(row["actual"]),
            ]
            for name, row in sorted(body["features"].items())
        ),
    )
    for error in body["errors"]:
        click.echo(f"error: {error}", err=True)
    for warning in body["warnings"]:
        click.echo(f"warning: {warning}", err=True)


COMMANDS = (licenses, features)
