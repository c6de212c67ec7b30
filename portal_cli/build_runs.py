"""Following builds from the CLI: lookups, a live progress line, exit codes."""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime

import click

from portal_cli.client import ApiError, Client, CLIError, quote
from portal_cli.follow import LogPrinter

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


def display(ref: str, workspace: dict) -> str:
    """The name as the user typed it (owner/name only when they gave one)."""
    return full_name(workspace) if "/" in ref else workspace["name"]


def get_build(client: Client, build_id: str) -> dict:
    return client.get(f"/workspacebuilds/{build_id}")


def build_by_number(client: Client, workspace: dict, number: int) -> dict:
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


def seconds_since(stamp: str | None) -> float:
    moment = _parse(stamp)
    return max(0.0, (datetime.now(UTC) - moment).total_seconds()) if moment else 0.0


def _duration(build: dict) -> str:
    """How long the build took, by the server's clock: from queued to completed."""
    start, end = _parse(build.get("created_at")), _parse(build.get("completed_at"))
    if start and end:
        return _elapsed(max(0.0, (end - start).total_seconds()))
    return _elapsed(seconds_since(build.get("created_at")))


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
        self.origin = time.monotonic() - seconds_since(build.get("created_at"))
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
    from portal_cli.follow import follow

    def status() -> str:
        fresh = get_build(client, build["id"])
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
    return get_build(client, build["id"])


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
    version_id: str | None = None,
) -> dict:
    """Queue a build of the workspace, follow it, report it; the ended build."""
    body: dict = {"transition": transition}
    if parameters:
        body["parameters"] = parameters
    if version_id:
        body["version_id"] = version_id
    if orphan:
        body["orphan"] = True
    try:
        build = client.post(f"/workspaces/{workspace['id']}/builds", body)
    except ApiError as e:
        raise _conflict_hint(client, e, workspace, ref) from None
    name = display(ref, workspace)
    click.echo(f"Queued build #{build['build_number']} ({transition}) of {name}.")
    final = follow_build(client, build, ref)
    report(final, name)
    return final
