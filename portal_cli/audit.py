"""`portal audit [QUERY]`, `portal audit export QUERY --format F -o FILE` and `portal audit
streams`, over the API."""

from __future__ import annotations

import sys

import click

from portal_cli.client import PAGE_MAX, ApiError, CLIError, logged_in
from portal_cli.output import output_option, print_rows, when

DEFAULT_LIMIT = 50
ENTRY_COLUMNS = (
    ("TIME", lambda e: e["time"][:19].replace("T", " ")),
    ("ACTOR", lambda e: e["actor_username"] or "system"),
    ("ACTION", lambda e: e["action"]),
    ("RESOURCE", lambda e: e["resource_type"]),
    ("TARGET", lambda e: e["resource_target"]),
    ("STATUS", lambda e: str(e["status_code"])),
)


class _AuditGroup(click.Group):
    """`portal audit QUERY...` lists; `portal audit export ...` exports (a subcommand)."""

    def parse_args(self, ctx, args):
        if args and (args[0] in self.commands or args[0] in ("--help", "-h")):
            return super().parse_args(ctx, args)
        return super().parse_args(ctx, ["list", *args])


@click.group(cls=_AuditGroup)
def audit() -> None:
    """Search and export the audit log (auditors and owners; the audit_log feature).

    portal audit [QUERY] [--limit N] [-o json] lists entries, newest first.
    """


@audit.command("list")
@click.argument("query", nargs=-1)
@click.option(
    "--limit",
    type=click.IntRange(min=1, max=10_000),
    default=DEFAULT_LIMIT,
    show_default=True,
    help="Show at most this many entries.",
)
@output_option
def list_entries(query: tuple[str, ...], limit: int, output: str) -> None:
    """List audit entries matching QUERY, newest first.

    QUERY is the audit search: action: resource_type: resource_id: username: email: date_from:
    date_to: build_reason: status: (403 or 4xx), "quoted values" and free text.
    """
    rows: list[dict] = []
    more = False
    with logged_in() as client:
        while len(rows) < limit:
            page = client.get(
                "/audit",
                q=" ".join(query),
                limit=min(PAGE_MAX, limit - len(rows)),
                offset=len(rows),
            )
            rows += page["results"]
            more = page["count_capped"] or page["count"] > len(rows)
            if not page["results"] or not more:
                break
    print_rows(output, rows, ENTRY_COLUMNS)
    if more:
        click.echo(f"Showing the newest {len(rows)} entries; narrow the query.", err=True)


@audit.command("export")
@click.argument("query", nargs=-1)
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "ndjson"]), default="csv", show_default=True
)
@click.option(
    "-o",
    "--output",
    "path",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help='Write the export to this file ("-" for standard output).',
)
def export(query: tuple[str, ...], fmt: str, path: str) -> None:
    """Export every audit entry matching QUERY to a file, as it streams from the server."""
    params = {"q": " ".join(query), "format": fmt}
    with logged_in() as client, client.stream("GET", "/audit/export", params=params) as answer:
        if answer.status_code >= 400:
            answer.read()
            try:
                body = answer.json()
            except ValueError:
                body = {}
            raise ApiError(answer.status_code, body if isinstance(body, dict) else {})
        out = sys.stdout.buffer if path == "-" else open(path, "wb")  # noqa: SIM115
        size = 0
        try:
            for chunk in answer.iter_bytes():
                out.write(chunk)
                size += len(chunk)
        except Exception as e:  # noqa: BLE001 - a cut stream must not pass as complete
            raise CLIError(f"the export was cut off after {size} bytes: {e}") from None
        finally:
            if out is not sys.stdout.buffer:
                out.close()
    if path != "-":
        click.echo(f"Exported {size} bytes to {path}.", err=True)


def _age(row: dict) -> str:
    seconds = row["oldest_undelivered_age_seconds"]
    if seconds is None:
        return "-"
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.0f}m"


STREAM_COLUMNS = (
    ("NAME", lambda r: r["name"]),
    ("TARGET", lambda r: r["target"] or "not configured"),
    ("BACKLOG", lambda r: str(r["backlog"])),
    ("OLDEST", _age),
    ("DELIVERED", lambda r: str(r["delivered"])),
    ("REFUSED", lambda r: str(r["refused"])),
    ("LAST SUCCESS", lambda r: when(r["last_success_at"])),
    ("LAST ERROR", lambda r: r["last_error"] or "-"),
    ("NEXT ATTEMPT", lambda r: when(r["next_attempt_at"], never="now")),
)


@audit.command("streams")
@output_option
def streams(output: str) -> None:
    """Each audit stream destination (syslog, webhook): backlog, last success, last error."""
    with logged_in() as client:
        rows = client.get("/audit/streams")
    print_rows(output, rows, STREAM_COLUMNS)
