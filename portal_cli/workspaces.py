"""`portal create|list|show|start|stop|restart|delete|cancel`: workspaces."""

from __future__ import annotations

import sys

import click

from portal_cli import quota
from portal_cli.build_runs import (
    ACTIVE,
    ERROR_LINES,
    EXIT_CODES_HELP,
    LIST_MAX,
    MASK,
    display,
    follow_build,
    full_name,
    get_workspace,
    report,
    run_build,
    seconds_since,
    split_name,
)
from portal_cli.build_runs import _conflict_hint as conflict_hint
from portal_cli.client import ApiError, Client, CLIError, logged_in, quote
from portal_cli.output import output_option, print_json, print_rows, when
from portal_cli.parameters import complete_parameters, normalize_values, parse_parameters
from portal_shared.parameters import to_ask_on_update

# --- Commands ----------------------------------------------------------------------------


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.UsageError("no terminal to confirm on: pass --yes.")
    click.confirm(question, abort=True)


parameter_option = click.option(
    "-p",
    "--parameter",
    "parameters",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter value (repeat for several); list(string) values as a,b,c or a JSON array.",
)


@click.command("create", epilog=EXIT_CODES_HELP)
@click.argument("name")
@click.option("-t", "--template", required=True, help="The template to build from.")
@parameter_option
@click.option("--version", "version_name", help="A template version (default: the active one).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask: take defaults for missing parameters.")
@click.option(
    "--copy-parameters-from",
    "copy_from",
    metavar="WORKSPACE",
    help="Start from that workspace's parameter values (--parameter overrides them).",
)
def create(
    name: str,
    template: str,
    parameters: tuple[str, ...],
    version_name: str | None,
    yes: bool,
    copy_from: str | None,
) -> None:
    """Create workspace NAME from a template and build it, showing the build log live.

    Parameters not given with --parameter are asked for on a terminal. Admins may create a
    workspace for someone else with OWNER/NAME.
    """
    owner, short = split_name(name)
    given = parse_parameters(parameters)
    with logged_in() as client:
        if copy_from:
            given = {**_copied_values(client, copy_from), **given}
        tpl = client.get(f"/templates/{quote(template)}")
        if version_name:
            version = client.get(f"/templates/{tpl['id']}/versions/{quote(version_name)}")
        else:
            version = tpl.get("active_version")
            if not version:
                raise CLIError(f"template {tpl['name']} has no active version; pass --version.")
        if version.get("import_status") != "succeeded":
            raise CLIError(
                f"version {version['name']} of {tpl['name']} cannot be built: its import "
                f"{version.get('import_status')}."
            )
        schema = version.get("parameters") or []
        if copy_from:  # only what this version has: another template's extra values are dropped
            names = {p["name"] for p in schema}
            given = {k: v for k, v in given.items() if k in names}
        values = complete_parameters(schema, normalize_values(schema, given), yes=yes)
        cost = version.get("daily_cost")
        what = f"workspace {name} from {tpl['name']} (version {version['name']})"
        if cost:
            click.echo(f"Daily cost of {what}: {cost}.")
        budget = quota.fetch(client, owner)
        if budget is not None and budget["budget"] > 0:  # 0: no allowance given (not in force)
            whose = "Your workspace quota" if owner == "me" else f"Workspace quota of {owner}"
            click.echo(f"{whose}: {quota.remaining_line(budget)}.")
            left = budget["budget"] - budget["credits_consumed"]
            if (cost or 0) > left:
                click.echo(
                    "warning: this workspace costs more than is left; its build will fail "
                    "unless you stop or delete another workspace or an admin raises a "
                    "group's allowance.",
                    err=True,
                )
        _confirm(f"Create {what}?", yes)
        body: dict = {"name": short, "template_id": tpl["id"], "parameters": values}
        if owner != "me":
            body["owner"] = owner
        if version_name:
            body["version_id"] = version["id"]
        workspace = client.post("/workspaces", body)
        build = workspace["latest_build"]
        click.echo(f"Created workspace {display(name, workspace)}; building it ...")
        final = follow_build(client, build, name)
    report(final, display(name, workspace))


def _last_build(w: dict) -> str:
    b = w.get("latest_build")
    if not b:
        return "-"
    return f"#{b['build_number']} {b['transition']} {b['job_status']}, {ago(b['created_at'])}"


def ago(stamp: str | None) -> str:
    if not stamp:
        return "never"
    seconds = seconds_since(stamp)
    if seconds < 60:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return when(stamp)


WORKSPACE_COLUMNS = (
    ("NAME", lambda w: w["name"]),
    ("TEMPLATE", lambda w: w["template_name"] + (" (outdated)" if w.get("outdated") else "")),
    ("STATUS", lambda w: w["status"] + (" (dormant)" if w.get("dormant_at") else "")),
    ("LAST BUILD", _last_build),
    ("COST/DAY", lambda w: str((w.get("latest_build") or {}).get("daily_cost") or 0)),
)


@click.command("list")
@click.option(
    "-a", "--all", "everyone", is_flag=True, help="Everyone's workspaces (admins and auditors)."
)
@output_option
def list_workspaces(everyone: bool, output: str) -> None:
    """List your workspaces, newest first."""
    with logged_in() as client:
        rows, count = client.list_all(
            "/workspaces", limit=LIST_MAX, owner=None if everyone else "me"
        )
    columns = WORKSPACE_COLUMNS
    if everyone:
        columns = (("OWNER", lambda w: w["owner_name"]), *WORKSPACE_COLUMNS)
    if not rows and output == "table":
        click.echo("No workspaces yet; create one with: portal create NAME --template T", err=True)
        return
    print_rows(output, rows, columns)
    if count > len(rows):
        click.echo(f"Showing {len(rows)} of {count} workspaces.", err=True)


def _metadata_value(item: dict) -> str:
    if item.get("sensitive"):
        return MASK
    return "" if item.get("value") is None else str(item["value"])


def warn_deprecated(w: dict) -> None:
    """A deprecated template still builds existing workspaces; their owners are told so."""
    click.secho(f"Warning: {w['deprecation_warning']}", fg="yellow", err=True)


def print_workspace(w: dict) -> None:
    build = w.get("latest_build")
    rows = [("Workspace", full_name(w)), ("Status", w["status"])]
    template = w["template_name"]
    if build:
        template += f" (version {build['template_version_name']}"
        template += ", outdated)" if w.get("outdated") else ")"
    rows.append(("Template", template))
    if w.get("deprecation_warning"):
        rows.append(("Warning", w["deprecation_warning"]))
    if build:
        line = (
            f"#{build['build_number']} {build['transition']} {build['job_status']}, by "
            f"{build['initiator_name']} {ago(build['created_at'])} (reason {build['reason']})"
        )
        rows.append(("Latest build", line))
        error = (build.get("error") or "").strip()
        reason = (build.get("status_reason") or "").strip()
        if reason and not error.startswith(reason.rstrip(".")):
            rows.append(("", reason))
        if error:
            # The whole of it: Terraform puts the cause and the file position on later lines.
            first, *rest = error.splitlines()
            rows.append(("Error", first))
            rows += [("", line) for line in rest[:ERROR_LINES]]
        rows.append(("Cost/day", str(build.get("daily_cost") or 0)))
    rows.append(("Created", when(w.get("created_at"))))
    rows.append(("Last used", when(w.get("last_used_at"))))
    if w.get("dormant_at"):
        line = f"since {when(w['dormant_at'])}"
        line += f", deleted at {when(w['deleting_at'])}" if w.get("deleting_at") else ""
        rows.append(("Dormant", f"{line} (reactivate with: portal reactivate {w['name']})"))
    width = max(len(k) for k, _ in rows) + 2
    for key, value in rows:
        click.echo(f"{(key + ':') if key else '':<{width}}{value}")
    if build and build.get("parameters"):
        click.echo("Parameters:")
        for key, value in sorted(build["parameters"].items()):
            click.echo(f"  {key} = {value}")
    resources = [r for r in w.get("resources") or [] if not r.get("hide")]
    if not resources:
        click.echo("Resources: none")
        return
    click.echo("Resources:")
    for r in resources:
        cost = f", cost/day {r['daily_cost']}" if r.get("daily_cost") else ""
        click.echo(f"  {r['type']}.{r['name']}{cost}")
        for item in r.get("metadata") or []:
            click.echo(f"    {item['key']}: {_metadata_value(item)}")
        for agent in r.get("agents") or []:
            click.echo(
                f"    agent {agent['name']} ({agent['os']}/{agent['arch']}): {agent['status']}, "
                f"{agent['lifecycle_state']}"
            )
            for app in agent.get("apps") or []:
                target = app.get("url") or app.get("command") or ""
                label = app.get("display_name") or app["slug"]
                text = f"      app {app['slug']}"
                text += f" ({label})" if label != app["slug"] else ""
                click.echo(text + (f": {target}" if target else ""))


@click.command("show")
@click.argument("name")
@output_option
def show(name: str, output: str) -> None:
    """Show workspace NAME: status, latest build, resources with agents and apps, metadata.

    Sensitive metadata values are masked (JSON output has what the server returns: the
    values only for the workspace's owner).
    """
    with logged_in() as client:
        workspace = get_workspace(client, name)
    if output == "json":
        print_json(workspace)
    else:
        print_workspace(workspace)


def _typed_values(client: Client, workspace: dict, pairs: tuple[str, ...]) -> dict[str, str]:
    """--parameter values, list(string) ones as JSON arrays per the build's version."""
    values = parse_parameters(pairs)
    latest = workspace.get("latest_build")
    if values and latest:
        version = client.get(f"/templateversions/{latest['template_version_id']}")
        values = normalize_values(version.get("parameters") or [], values)
    return values


def _build_command(transition: str, summary: str, with_parameters: bool = False):
    def command(name: str, parameters: tuple[str, ...] = ()) -> None:
        with logged_in() as client:
            workspace = get_workspace(client, name)
            values = _typed_values(client, workspace, parameters)
            if transition == "start" and workspace.get("deprecation_warning"):
                warn_deprecated(workspace)
            run_build(client, workspace, name, transition, parameters=values)

    command.__doc__ = summary
    decorated = click.argument("name")(command)
    if with_parameters:
        decorated = parameter_option(decorated)
    return click.command(transition, epilog=EXIT_CODES_HELP)(decorated)


start = _build_command(
    "start",
    "Start workspace NAME (a start build), showing the build log live.\n\n"
    "--parameter changes a mutable parameter's value for this and later builds.",
    with_parameters=True,
)
stop = _build_command("stop", "Stop workspace NAME (a stop build), showing the build log live.")


@click.command("restart", epilog=EXIT_CODES_HELP)
@click.argument("name")
@parameter_option
def restart(name: str, parameters: tuple[str, ...]) -> None:
    """Restart workspace NAME: a stop build, then (once it succeeded) a start build.

    The server queues the start itself when the stop succeeded, so a restart completes even if
    this command is interrupted; it shows both builds' logs live.
    """
    with logged_in() as client:
        workspace = get_workspace(client, name)
        values = _typed_values(client, workspace, parameters)
        try:
            stop = client.post(
                f"/workspaces/{workspace['id']}/restart", {"parameters": values} if values else {}
            )
        except ApiError as e:
            raise conflict_hint(client, e, workspace, name) from None
        shown = display(name, workspace)
        click.echo(f"Queued build #{stop['build_number']} (stop) of {shown}; a start follows it.")
        report(follow_build(client, stop, name), shown)
        start = _restart_start(client, workspace, stop, name)
        click.echo(f"Queued build #{start['build_number']} (start) of {shown}.")
        report(follow_build(client, start, name), shown)


def _restart_start(client: Client, workspace: dict, stop: dict, ref: str) -> dict:
    """The start build the server queued when the restart's stop succeeded."""
    fresh = client.get(f"/workspaces/{workspace['id']}")
    latest = fresh.get("latest_build") or {}
    if latest.get("build_number") == stop["build_number"] + 1 and latest["transition"] == "start":
        return latest
    if latest.get("id") == stop["id"]:
        raise CLIError(
            f"workspace {display(ref, workspace)} stopped but was not started again (the reason "
            f"ends the log above); start it with: portal start {ref}"
        )
    raise CLIError(
        f"build #{latest.get('build_number')} ({latest.get('transition')}) came after the stop; "
        "it is not this restart's start."
    )


@click.command("delete", epilog=EXIT_CODES_HELP)
@click.argument("name")
@click.option(
    "--orphan",
    is_flag=True,
    help="Forget the Terraform state without destroying the resources (they are left behind, "
    "unmanaged). For a workspace whose resources cannot be destroyed.",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, orphan: bool, yes: bool) -> None:
    """Delete workspace NAME: a delete build destroys its resources, then it is gone."""
    with logged_in() as client:
        workspace = get_workspace(client, name)
        shown = display(name, workspace)
        if orphan:
            question = (
                f"Delete workspace {shown} WITHOUT destroying its resources? They stay behind, "
                "unmanaged."
            )
        else:
            question = f"Delete workspace {shown} and destroy its resources?"
        _confirm(question, yes)
        run_build(client, workspace, name, "delete", orphan=orphan)


@click.command("cancel")
@click.argument("name")
def cancel(name: str) -> None:
    """Cancel the build of workspace NAME that is pending or running.

    A pending build is canceled at once; a running one gets an interrupt and ends canceled
    when Terraform has stopped (the state it wrote is kept).
    """
    with logged_in() as client:
        workspace = get_workspace(client, name)
        latest = workspace.get("latest_build")
        if not latest or latest["job_status"] not in ACTIVE:
            state = f"build #{latest['build_number']} {latest['job_status']}" if latest else ""
            raise CLIError(
                f"workspace {display(name, workspace)} has no build in progress"
                + (f" (its latest, {state})." if state else ".")
            )
        build = client.request("PATCH", f"/workspacebuilds/{latest['id']}/cancel")
    what = f"build #{build['build_number']} ({build['transition']}) of {display(name, workspace)}"
    if build["job_status"] == "canceled":
        click.echo(f"Canceled {what}.")
    else:
        click.echo(
            f"Canceling {what}: the provisioner was asked to stop. Follow it with: "
            f"portal builds logs {name}"
        )


def _copied_values(client: Client, ref: str) -> dict[str, str]:
    """The parameter values of workspace `ref`'s latest build."""
    source = get_workspace(client, ref)
    latest = source.get("latest_build")
    if not latest:
        raise CLIError(f"workspace {ref} has no build to copy parameters from.")
    return dict(client.get(f"/workspacebuilds/{latest['id']}").get("parameters") or {})


@click.command("update", epilog=EXIT_CODES_HELP)
@click.argument("name")
@parameter_option
@click.option("-y", "--yes", is_flag=True, help="Do not ask: take defaults for new parameters.")
def update(name: str, parameters: tuple[str, ...], yes: bool) -> None:
    """Move workspace NAME to its template's active version (a start build).

    Only parameters the new version adds, or whose previous value it no longer accepts, are
    asked for (or given with --parameter); the others keep their values.
    """
    with logged_in() as client:
        workspace = get_workspace(client, name)
        latest = workspace.get("latest_build")
        template = client.get(f"/templates/{workspace['template_id']}")
        active_id = template.get("active_version_id")
        if not active_id:
            raise CLIError(f"template {template['name']} has no active version.")
        shown = display(name, workspace)
        if latest and str(latest["template_version_id"]) == str(active_id):
            click.echo(f"{shown} is already on the active version of {template['name']}.")
            return
        version = client.get(f"/templateversions/{active_id}")
        if version.get("import_status") != "succeeded":
            raise CLIError(
                f"version {version['name']} of {template['name']} cannot be built: its import "
                f"{version.get('import_status')}."
            )
        schema = version.get("parameters") or []
        previous, previous_schema = {}, []
        if latest:
            previous = client.get(f"/workspacebuilds/{latest['id']}").get("parameters") or {}
            old = client.get(f"/templateversions/{latest['template_version_id']}")
            previous_schema = old.get("parameters") or []
        ask = to_ask_on_update(schema, previous_schema, previous)
        given = normalize_values(schema, parse_parameters(parameters))
        values = complete_parameters(ask, given, yes=yes)
        for param in ask:  # not asked (--yes, no terminal): the new default, not the old value
            if param["name"] not in values and param.get("default") is not None:
                values[param["name"]] = str(param["default"])
        click.echo(f"Updating {shown} to version {version['name']} of {template['name']}.")
        run_build(client, workspace, name, "start", parameters=values, version_id=active_id)


@click.command("reactivate")
@click.argument("name")
def reactivate(name: str) -> None:
    """Reactivate dormant workspace NAME so it can start again (clears its deletion date)."""
    with logged_in() as client:
        workspace = get_workspace(client, name)
        if not workspace.get("dormant_at"):
            click.echo(f"{full_name(workspace)} is not dormant; nothing to do.")
            return
        client.put(f"/workspaces/{workspace['id']}/dormant", json={"dormant": False})
    click.echo(f"Reactivated {full_name(workspace)}; start it with: portal start {name}")


COMMANDS = (
    create,
    list_workspaces,
    show,
    start,
    stop,
    restart,
    update,
    delete,
    cancel,
    reactivate,
)
