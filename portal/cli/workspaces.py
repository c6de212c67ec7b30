"""`portal create|list|show|start|stop|restart|delete|cancel` and `portal builds`: workspaces."""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import UTC, datetime

import click

from portal.cli.client import ApiError, Client, CLIError, logged_in, quote
from portal.cli.follow import LogPrinter
from portal.cli.output import output_option, print_json, print_rows, when

LIST_MAX = 1000
ACTIVE = frozenset({"pending", "running", "canceling"})
MASK = "********"
ERROR_LINES = 12  # of a failed build's error in `show`; `portal builds logs` has all of it

# Exit codes of every command that runs or follows a build (documented in EXIT_CODES_HELP).
EXIT_FAILED = 1
EXIT_CANCELED = 3
EXIT_INTERRUPTED = 130
EXIT_CODES_HELP = (
    "Exit status: 0 when the build succeeds, 1 when it fails (or on any other error), 2 for a "
    "usage error, 3 when the build is canceled, 130 when Ctrl-C stops following (the build "
    "goes on; `portal cancel NAME` cancels it)."
)

_DONE_WORDS = {"start": "running", "stop": "stopped", "delete": "deleted"}


class BuildCanceled(CLIError):
    exit_code = EXIT_CANCELED


# --- Names and lookups -------------------------------------------------------------------


def split_name(ref: str) -> tuple[str, str]:
    """`owner/name` (an admin reaching someone else's workspace) or `name` (yours)."""
    owner, slash, name = ref.rpartition("/")
    if slash and (not owner or not name or "/" in owner):
        raise click.BadParameter(f"{ref!r}: give NAME or OWNER/NAME.", param_hint="NAME")
    return (owner or "me"), name


def get_workspace(client: Client, ref: str) -> dict:
    owner, name = split_name(ref)
    return client.get(f"/users/{quote(owner)}/workspace/{quote(name)}")


def full_name(workspace: dict) -> str:
    return f"{workspace['owner_name']}/{workspace['name']}"


def _display(ref: str, workspace: dict) -> str:
    """The name as the user typed it (owner/name only when they gave one)."""
    return full_name(workspace) if "/" in ref else workspace["name"]


def _get_build(client: Client, build_id: str) -> dict:
    return client.get(f"/workspacebuilds/{build_id}")


def _build_by_number(client: Client, workspace: dict, number: int) -> dict:
    path = f"/workspaces/{workspace['id']}/builds"
    latest = (workspace.get("latest_build") or {}).get("build_number") or 0
    if 1 <= number <= latest:
        # Newest first and numbered 1..latest without gaps: build N sits at offset latest - N.
        page = client.get(path, limit=1, offset=latest - number)
        if page["results"] and page["results"][0]["build_number"] == number:
            return page["results"][0]
    raise CLIError(
        f"workspace {workspace['name']} has no build #{number}"
        + (f" (its builds are #1 to #{latest})." if latest else " (it has no builds).")
    )


# --- Parameters --------------------------------------------------------------------------


def parse_parameters(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name.strip():
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE.", param_hint="--parameter")
        values[name.strip()] = value
    return values


def _as_list(text: str) -> str:
    """A list(string) value as the server wants it: a JSON array (a, b, c is accepted too)."""
    stripped = text.strip()
    if stripped.startswith("["):
        return stripped  # the server says what is wrong with a malformed one
    return json.dumps([item.strip() for item in stripped.split(",") if item.strip()])


def normalize_values(schema: list[dict], values: dict[str, str]) -> dict[str, str]:
    kinds = {p["name"]: p.get("type") or "string" for p in schema}
    return {
        name: _as_list(value) if kinds.get(name) == "list(string)" else value
        for name, value in values.items()
    }


def _ordered(schema: list[dict]) -> list[dict]:
    return sorted(schema, key=lambda p: (p.get("order") or 0, p["name"]))


def _is_required(param: dict) -> bool:
    return bool(param.get("required")) or param.get("default") is None


def _describe(param: dict) -> str:
    label = param.get("display_name") or param["name"]
    text = f"{param['name']}" if label == param["name"] else f"{param['name']} ({label})"
    if param.get("description"):
        text += f": {param['description'].strip().splitlines()[0]}"
    return text


def _choose(options: list[dict], answer: str, many: bool) -> str | None:
    """An answer of option numbers or values (comma-separated when `many`) as the value."""
    picks = [a.strip() for a in answer.split(",")] if many else [answer.strip()]
    values = []
    for pick in filter(None, picks):
        if pick.isdigit() and 1 <= int(pick) <= len(options):
            values.append(str(options[int(pick) - 1]["value"]))
        elif any(str(o["value"]) == pick for o in options):
            values.append(pick)
        else:
            return None
    return json.dumps(values) if many else (values[0] if values else None)


def prompt_parameter(param: dict) -> str:
    """Ask for one parameter's value on the terminal, showing what the template says of it."""
    kind = param.get("type") or "string"
    label = param.get("display_name") or param["name"]
    click.secho(f"\n{label}" + (f" ({param['name']})" if label != param["name"] else ""), bold=True)
    if param.get("description"):
        click.echo(f"  {param['description'].strip()}")
    notes = [f"type {kind}"]
    if not param.get("mutable", True):
        notes.append("cannot be changed after the workspace is created")
    click.echo(f"  ({'; '.join(notes)})")
    default = None if _is_required(param) else str(param["default"])
    options = param.get("options") or []
    if options:
        for n, option in enumerate(options, 1):
            name = option.get("name") or option["value"]
            line = f"  {n}) {name}" + (f" [{option['value']}]" if name != option["value"] else "")
            if option.get("description"):
                line += f" - {option['description']}"
            click.echo(line)
        many = kind == "list(string)"
        question = "Choose (numbers or values, comma-separated)" if many else "Choose"
        while True:
            answer = click.prompt(question, default=default, show_default=default is not None)
            if answer == default:
                return answer
            chosen = _choose(options, answer, many)
            if chosen is not None:
                return chosen
            click.echo(f"  {answer!r} is not one of the options above.")
    if kind == "bool":
        return click.prompt(
            "Value", type=click.Choice(["true", "false"]), default=default and default.lower()
        )
    if kind == "number":

        def number(text: str) -> str:
            try:
                float(text)
            except ValueError:
                raise click.UsageError(f"{text!r} is not a number.") from None
            return text.strip()

        return click.prompt("Value", default=default, value_proc=number)
    if kind == "list(string)":
        return _as_list(click.prompt("Values (comma-separated)", default=default))
    return click.prompt("Value", default=default, show_default=bool(default))


def complete_parameters(schema: list[dict], given: dict[str, str], *, yes: bool) -> dict[str, str]:
    """The values to send: given ones, plus answers for missing ones when there is a terminal.

    Without a terminal (or with --yes) missing optional parameters take their defaults on the
    server, and missing required ones are an error naming each.
    """
    missing = [p for p in _ordered(schema) if p["name"] not in given]
    values = dict(given)
    if not missing:
        return values
    if not yes and sys.stdin.isatty():
        for param in missing:
            values[param["name"]] = prompt_parameter(param)
        return values
    required = [p for p in missing if _is_required(p)]
    if required:
        lines = "\n".join(f"  {_describe(p)}" for p in required)
        why = "--yes only fills in defaults" if yes else "no terminal to ask on"
        raise CLIError(
            f"missing required parameter{'s' if len(required) > 1 else ''} ({why}):\n{lines}\n"
            "  pass each with --parameter NAME=VALUE"
        )
    return values


# --- Following a build -------------------------------------------------------------------


def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def _seconds_since(stamp: str | None) -> float:
    moment = _parse(stamp)
    return max(0.0, (datetime.now(UTC) - moment).total_seconds()) if moment else 0.0


def _duration(build: dict) -> str:
    """How long the build took, by the server's clock: from queued to completed."""
    start, end = _parse(build.get("created_at")), _parse(build.get("completed_at"))
    if start and end:
        return _elapsed(max(0.0, (end - start).total_seconds()))
    return _elapsed(_seconds_since(build.get("created_at")))


class BuildProgress(LogPrinter):
    """The build's log lines, and a progress line (stage + elapsed time).

    On a terminal the progress line stays below the log and is redrawn in place every second;
    otherwise each new stage prints one plain `==> Stage (elapsed)` line.
    """

    def __init__(self, build: dict, *, tty: bool, after: int = 0):
        super().__init__(after)
        self.build = build
        self.tty = tty
        self.state = build.get("job_status") or "pending"
        self.reason = ""
        self.origin = time.monotonic() - _seconds_since(build.get("created_at"))
        self.lock = threading.RLock()
        self.drawn = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def elapsed(self) -> str:
        return _elapsed(time.monotonic() - self.origin)

    def line(self) -> str:
        b = self.build
        what = self.stage or {"pending": "Queued", "canceling": "Canceling"}.get(self.state, "")
        what = what or self.state.capitalize()
        return f"Build #{b['build_number']} ({b['transition']}): {what} [{self.elapsed()}]"

    def _erase(self) -> None:
        if self.drawn:
            click.echo("\r\x1b[2K", nl=False)
            self.drawn = False

    def _draw(self) -> None:
        if self.tty:
            click.secho(self.line(), nl=False, fg="cyan")
            self.drawn = True

    def __call__(self, rows: list[dict]) -> None:
        with self.lock:
            self._erase()
            for row in rows:
                row_id = int(row.get("id") or 0)
                if row_id and row_id <= self.last_id:
                    continue
                self.last_id = max(self.last_id, row_id)
                if self.state == "pending":
                    self.state = "running"  # a line arrived: a provisioner has the job
                stage = row.get("stage") or ""
                if stage and stage != self.stage:
                    self.stage = stage
                    click.secho(f"==> {stage} ({self.elapsed()})", bold=True)
                error = row.get("level") == "error"
                click.secho(row.get("output", ""), fg="red" if error else None)
            self._draw()

    def note(self, build: dict) -> None:
        """A fresh view of the build (from polling): say why it waits, once per reason."""
        with self.lock:
            self.build = {**self.build, **build}
            self.state = build.get("job_status") or self.state
            reason = build.get("status_reason") or ""
            if reason and reason != self.reason and self.state in ACTIVE:
                self._erase()
                click.secho(reason, fg="yellow")
                self._draw()
            self.reason = reason

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            with self.lock:
                self._erase()
                self._draw()

    def __enter__(self) -> BuildProgress:
        with self.lock:
            self._draw()
        if self.tty:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self.lock:
            self._erase()


def follow_build(client: Client, build: dict, ref: str, *, after: int = 0) -> dict:
    """Print the build's log live until it ends; the build as it ended.

    Ctrl-C stops following (exit 130) and says how to cancel; the build itself goes on.
    """
    from portal.cli.follow import follow

    def status() -> str:
        fresh = _get_build(client, build["id"])
        progress.note(fresh)
        return fresh["job_status"]

    progress = BuildProgress(build, tty=sys.stdout.isatty(), after=after)
    if build.get("job_status") in ACTIVE:
        progress.note(build)
    try:
        with progress:
            follow(client, f"workspacebuilds/{build['id']}", status=status, printer=progress)
    except KeyboardInterrupt:
        click.echo(
            f"\nStopped following build #{build['build_number']}; it goes on on the server. "
            f"Cancel it with: portal cancel {ref}",
            err=True,
        )
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    return _get_build(client, build["id"])


def report(build: dict, workspace_name: str) -> None:
    """Say how the build ended; a failed or canceled one raises (exit 1 or 3)."""
    what = f"build #{build['build_number']} ({build['transition']}) of {workspace_name}"
    took = _duration(build)
    status = build["job_status"]
    if status == "succeeded":
        done = _DONE_WORDS.get(build["transition"], build["status"])
        click.secho(
            f"{what[0].upper()}{what[1:]} succeeded in {took}: the workspace is {done}.",
            fg="green",
        )
        return
    reason = build.get("error") or build.get("status_reason") or ""
    if status == "canceled":
        raise BuildCanceled(
            f"{what} was canceled after {took}." + (f"\n{reason}" if reason else "")
        )
    raise CLIError(f"{what} {status} after {took}" + (f":\n{reason}" if reason else "."))


def _conflict_hint(client: Client, error: ApiError, workspace: dict, ref: str) -> ApiError:
    """A 409 while a build runs, with the commands to watch or cancel it."""
    if error.status != 409:
        return error
    latest = (_refresh(client, workspace) or {}).get("latest_build") or {}
    if latest.get("job_status") in ACTIVE:
        hint = f"Follow it with: portal builds logs {ref}\n  Cancel it with: portal cancel {ref}"
        return ApiError(error.status, error.body, hint)
    return error


def _refresh(client: Client, workspace: dict) -> dict | None:
    try:
        return client.get(f"/workspaces/{workspace['id']}")
    except ApiError:
        return None


def run_build(
    client: Client,
    workspace: dict,
    ref: str,
    transition: str,
    *,
    parameters: dict | None = None,
    orphan: bool = False,
) -> dict:
    """Queue a build of the workspace, follow it, report it; the ended build."""
    body: dict = {"transition": transition}
    if parameters:
        body["parameters"] = parameters
    if orphan:
        body["orphan"] = True
    try:
        build = client.post(f"/workspaces/{workspace['id']}/builds", body)
    except ApiError as e:
        raise _conflict_hint(client, e, workspace, ref) from None
    name = _display(ref, workspace)
    click.echo(f"Queued build #{build['build_number']} ({transition}) of {name}.")
    final = follow_build(client, build, ref)
    report(final, name)
    return final


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
def create(
    name: str, template: str, parameters: tuple[str, ...], version_name: str | None, yes: bool
) -> None:
    """Create workspace NAME from a template and build it, showing the build log live.

    Parameters not given with --parameter are asked for on a terminal. Admins may create a
    workspace for someone else with OWNER/NAME.
    """
    owner, short = split_name(name)
    given = parse_parameters(parameters)
    with logged_in() as client:
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
        values = complete_parameters(schema, normalize_values(schema, given), yes=yes)
        cost = version.get("daily_cost")
        what = f"workspace {name} from {tpl['name']} (version {version['name']})"
        if cost:
            click.echo(f"Daily cost of {what}: {cost}.")
        _confirm(f"Create {what}?", yes)
        body: dict = {"name": short, "template_id": tpl["id"], "parameters": values}
        if owner != "me":
            body["owner"] = owner
        if version_name:
            body["version_id"] = version["id"]
        workspace = client.post("/workspaces", body)
        build = workspace["latest_build"]
        click.echo(f"Created workspace {_display(name, workspace)}; building it ...")
        final = follow_build(client, build, name)
    report(final, _display(name, workspace))


def _last_build(w: dict) -> str:
    b = w.get("latest_build")
    if not b:
        return "-"
    return f"#{b['build_number']} {b['transition']} {b['job_status']}, {ago(b['created_at'])}"


def ago(stamp: str | None) -> str:
    if not stamp:
        return "never"
    seconds = _seconds_since(stamp)
    if seconds < 60:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return when(stamp)


WORKSPACE_COLUMNS = (
    ("NAME", lambda w: w["name"]),
    ("TEMPLATE", lambda w: w["template_name"] + (" (outdated)" if w.get("outdated") else "")),
    ("STATUS", lambda w: w["status"]),
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


def print_workspace(w: dict) -> None:
    build = w.get("latest_build")
    rows = [("Workspace", full_name(w)), ("Status", w["status"])]
    template = w["template_name"]
    if build:
        template += f" (version {build['template_version_name']}"
        template += ", outdated)" if w.get("outdated") else ")"
    rows.append(("Template", template))
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
    """Restart workspace NAME: a stop build, then (once it succeeded) a start build."""
    with logged_in() as client:
        workspace = get_workspace(client, name)
        values = _typed_values(client, workspace, parameters)
        run_build(client, workspace, name, "stop")
        run_build(client, workspace, name, "start", parameters=values)


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
        shown = _display(name, workspace)
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
                f"workspace {_display(name, workspace)} has no build in progress"
                + (f" (its latest, {state})." if state else ".")
            )
        build = client.request("PATCH", f"/workspacebuilds/{latest['id']}/cancel")
    what = f"build #{build['build_number']} ({build['transition']}) of {_display(name, workspace)}"
    if build["job_status"] == "canceled":
        click.echo(f"Canceled {what}.")
    else:
        click.echo(
            f"Canceling {what}: the provisioner was asked to stop. Follow it with: "
            f"portal builds logs {name}"
        )


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
            summary = _build_by_number(client, workspace, number)
        elif workspace.get("latest_build"):
            summary = workspace["latest_build"]
        else:
            raise CLIError(f"workspace {_display(name, workspace)} has no builds.")
        build = _get_build(client, summary["id"])
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
            f"{_display(name, workspace)}, {build['job_status']}:"
        )
        final = follow_build(client, build, name)
    report(final, _display(name, workspace))


COMMANDS = (create, list_workspaces, show, start, stop, restart, delete, cancel, builds)
