"""`portal builds list|logs`: a workspace's builds and their logs."""

from __future__ import annotations

import click

from portal.cli.build_runs import (
    ACTIVE,
    build_by_number,
    display,
    follow_build,
    get_build,
    get_workspace,
    report,
)
from portal.cli.client import CLIError, logged_in
from portal.cli.follow import LogPrinter
from portal.cli.output import output_option, print_rows, when


@click.group("builds")
def builds() -> None:
    """A workspace's builds and their logs."""


BUILD_COLUMNS = (
    ("BUILD", lambda b: f"#{b['build_number']}"),
    ("TRANSITION", lambda b: b["transition"]),
    ("STATUS", lambda b: b["job_status"]),
    ("REASON", lambda b: b["reason"]),
    ("BY", lambda b: b["initiator_name"]),
    ("VERSION", lambda b: b["template_version_name"]),
    ("CREATED", lambda b: when(b["created_at"])),
    ("COST/DAY", lambda b: str(b.get("daily_cost") or 0)),
)


@builds.command("list")
@click.argument("name")
@click.option("--limit", type=click.IntRange(min=1), default=25, show_default=True)
@output_option
def list_builds(name: str, limit: int, output: str) -> None:
    """List the builds of workspace NAME, newest first."""
    with logged_in() as client:
        workspace = get_workspace(client, name)
        rows, _ = client.list_all(f"/workspaces/{workspace['id']}/builds", limit=limit)
    print_rows(output, rows, BUILD_COLUMNS)


@builds.command(
    "logs",
    epilog="Exit status with --follow: 0 when the build succeeded, 1 when it failed (or on any "
    "other error), 3 when it was canceled, 130 when Ctrl-C stops following. With --no-follow: 0.",
)
@click.argument("name")
@click.option("-b", "--build", "number", type=click.IntRange(min=1), help="Build number.")
@click.option(
    "--follow/--no-follow",
    default=True,
    show_default=True,
    help="Follow a build in progress live until it ends.",
)
def build_logs(name: str, number: int | None, follow: bool) -> None:
    """Print the log of the latest (or --build N) build of workspace NAME.

    With --follow (the default) a build in progress is followed live until it ends; with
    --no-follow only what is logged so far is printed.
    """
    from portal.cli.follow import drain

    with logged_in() as client:
        workspace = get_workspace(client, name)
        if number is not None:
            summary = build_by_number(client, workspace, number)
        elif workspace.get("latest_build"):
            summary = workspace["latest_build"]
        else:
            raise CLIError(f"workspace {display(name, workspace)} has no builds.")
        build = get_build(client, summary["id"])
        if not follow:
            drain(client, f"workspacebuilds/{build['id']}", LogPrinter())
            if build["job_status"] in ACTIVE:
                click.echo(
                    f"Build #{build['build_number']} is still {build['job_status']}; "
                    "--follow shows the rest as it comes.",
                    err=True,
                )
            return
        click.echo(
            f"Build #{build['build_number']} ({build['transition']}) of "
            f"{display(name, workspace)}, {build['job_status']}:"
        )
        final = follow_build(client, build, name)
    report(final, display(name, workspace))


COMMANDS = (builds,)
