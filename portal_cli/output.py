"""`--output table|json` for CLI commands: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

import click

output_option = click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)


def print_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """An aligned table; bold headers on a terminal, plain text without colour otherwise."""
    import io

    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    if sys.stdout.isatty():
        Console(highlight=False).print(table)
        return
    # A pipe gets plain text, never wrapped at 80 columns and without trailing blanks.
    buffer = io.StringIO()
    Console(file=buffer, width=4096, color_system=None, highlight=False).print(table)
    for line in buffer.getvalue().splitlines():
        click.echo(line.rstrip())


def print_rows(
    output: str, rows: list[dict], columns: Sequence[tuple[str, Callable[[dict], str]]]
) -> None:
    """`rows` as JSON, or as a table of the given (header, cell) columns."""
    if output == "json":
        print_json(rows)
    else:
        print_table([name for name, _ in columns], ([cell(r) for _, cell in columns] for r in rows))


def when(value: str | None, never: str = "never") -> str:
    """An API timestamp as `2025-06-01 12:34 UTC`."""
    if not value:
        return never
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
