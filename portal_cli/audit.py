"""`portal audit streams`: where audit entries are streamed to and how delivery is going."""

from __future__ import annotations

import click

from portal_cli.client import logged_in
from portal_cli.output import output_option, print_rows, when


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


@click.group()
def audit() -> None:
    """The audit log (owners and auditors)."""


@audit.command("streams")
@output_option
def streams(output: str) -> None:
    """Each audit stream destination (syslog, webhook): backlog, last success, last error."""
    with logged_in() as client:
        rows = client.get("/audit/streams")
    print_rows(output, rows, STREAM_COLUMNS)


COMMANDS = (audit,)
