"""`portal builds list|logs`: a workspace's builds, their logs and their agents' startup logs."""

from __future__ import annotations

import click

from portal_cli.build_runs import (
    ACTIVE,
    EXIT_INTERRUPTED,
    build_by_number,
    display,
    follow_build,
    get_build,
    get_workspace,
    report,
)
from portal_cli.client import CLIError, logged_in
from portal_cli.follow import LogPrinter, drain
from portal_cli.output import output_option, print_rows, when


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
    epilog="Exit status with --follow: 0 when the build succeeded (an agent that failed to start "
    "is reported but does not change it), 1 when it failed (or on any other error), 3 when it "
    "was canceled, 130 when Ctrl-C stops following. With --no-follow: 0.",
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

    After a start build that succeeded come the startup logs of its agents (startup script and
    scripts). With --follow (the default) a build in progress is followed live until it ends,
    then each agent's startup log until the agent is ready (or failed to start); with
    --no-follow only what is logged so far is printed.
    """
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
            for agent in build_agents(client, build):
                agent_logs(client, agent, follow=False)
            return
        click.echo(
            f"Build #{build['build_number']} ({build['transition']}) of "
            f"{display(name, workspace)}, {build['job_status']}:"
        )
        final = follow_build(client, build, name)
        report(final, display(name, workspace))
        for agent in build_agents(client, final):
            agent_logs(client, agent, follow=True)


# An agent's startup is over in these lifecycle states; before them it is created or starting.
AGENT_DONE = frozenset({"ready", "start_error", "start_timeout", "shutting_down", "off"})


def build_agents(client, build: dict) -> list[dict]:
    """The agents a succeeded start build made, if they are still the workspace's."""
    if build["transition"] != "start" or build["job_status"] != "succeeded":
        return []
    workspace = client.get(f"/workspaces/{build['workspace_id']}")
    ids = [a["id"] for r in workspace.get("resources") or [] for a in r.get("agents") or []]
    details = [client.get(f"/workspaceagents/{agent_id}") for agent_id in ids]
    # A later build's agents are not this build's: their startup is not part of its story.
    return [a for a in details if a.get("build_id") == build["id"]]


def agent_logs(client, agent: dict, *, follow: bool) -> None:
    """Print an agent's startup log, one header per source; live until it has started."""
    from portal_cli.follow import follow as follow_log

    name = agent["name"]
    path = f"workspaceagents/{agent['id']}"
    printer = LogPrinter(stage_key="source", heading=f"==> Agent {name}: {{}}".format)
    click.secho(f"==> Agent {name} ({agent['lifecycle_state']})", bold=True)
    if not follow or agent["lifecycle_state"] in AGENT_DONE:
        drain(client, path, printer)
    else:
        if agent["lifecycle_state"] == "created":
            click.echo(f"Waiting for agent {name} to connect and start ...", err=True)
        try:
            follow_log(
                client,
                path,
                status=lambda: client.get(f"/{path}")["lifecycle_state"],
                printer=printer,
                finished=AGENT_DONE,
            )
        except KeyboardInterrupt:
            click.echo(
                f"\nStopped following agent {name}'s startup log; the workspace goes on.",
                err=True,
            )
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    agent = client.get(f"/{path}")
    state, reason = agent["lifecycle_state"], agent.get("lifecycle_reason") or ""
    if state == "ready":
        click.secho(f"Agent {name} is ready.", fg="green")
    elif state in {"start_error", "start_timeout"}:
        what = "failed to start" if state == "start_error" else "timed out starting"
        click.secho(
            f"warning: agent {name} {what}" + (f": {reason}" if reason else "."),
            fg="yellow",
            err=True,
        )
    elif state in AGENT_DONE:
        click.echo(f"Agent {name} is {state.replace('_', ' ')}.")
    else:
        click.echo(f"Agent {name} is still {state}; --follow shows the rest as it comes.", err=True)


COMMANDS = (builds,)
