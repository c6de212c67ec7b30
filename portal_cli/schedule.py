"""`portal schedule show|start|stop|extend`: a workspace's autostart and autostop, as Coder's."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import click

from portal_cli.build_runs import LIST_MAX, display, get_workspace
from portal_cli.client import logged_in, quote
from portal_cli.output import output_option, print_rows

_DURATION = re.compile(r"(\d+)([dhms])")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> int:
    """Seconds in "8h", "90m", "1h30m", "2d"; a BadParameter otherwise."""
    text = text.strip().lower()
    parts = _DURATION.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise click.BadParameter(
            f"{text!r}: give a duration such as 8h, 90m or 1h30m.", param_hint="DURATION"
        )
    return sum(int(n) * _UNITS[u] for n, u in parts)


def human(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    return "".join(parts) or f"{seconds}s"


def _stamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _zone_and_cron(stored: str) -> tuple[str, str]:
    if stored.startswith("CRON_TZ="):
        head, _, cron = stored.partition(" ")
        return head.removeprefix("CRON_TZ="), cron
    return "UTC", stored


def starts_at(w: dict) -> str:
    stored = w.get("autostart_schedule") or ""
    if not stored:
        return "manual"
    zone, cron = _zone_and_cron(stored)
    nxt = _stamp(w.get("next_start_at"))
    if nxt is None:
        return f"{cron} ({zone})"
    try:
        local = nxt.astimezone(ZoneInfo(zone))
    except Exception:  # noqa: BLE001 - a zone this machine lacks: show UTC
        local, zone = nxt.astimezone(UTC), "UTC"
    return f"{local:%a %b %d %H:%M} {zone} ({cron})"


def stops_after(w: dict) -> str:
    ttl = w.get("ttl_ms")
    return human(ttl / 1000) if ttl else "manual"


def next_stop(w: dict, now: datetime | None = None) -> str:
    build = w.get("latest_build") or {}
    deadline = _stamp(build.get("deadline"))
    if w.get("status") != "running" or deadline is None:
        return "-"
    now = now or datetime.now(UTC)
    left = (deadline - now).total_seconds()
    suffix = f"in {human(left)}" if left > 0 else "due now"
    return f"{deadline.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({suffix})"


COLUMNS = (
    ("WORKSPACE", lambda w: f"{w['owner_name']}/{w['name']}"),
    ("STARTS AT", starts_at),
    ("STOPS AFTER", stops_after),
    ("NEXT STOP", next_stop),
)


@click.group()
def schedule() -> None:
    """Autostart and autostop of workspaces.

    \b
    portal schedule show [WORKSPACE]
    portal schedule start WORKSPACE "0 9 * * 1-5" --tz Europe/Berlin   (or: manual)
    portal schedule stop WORKSPACE 8h                                  (or: manual)
    portal schedule extend WORKSPACE 2h
    """


@schedule.command("show")
@click.argument("name", required=False)
@output_option
def show(name: str | None, output: str) -> None:
    """Show the schedule of one workspace, or of all of yours."""
    with logged_in() as client:
        if name:
            rows = [get_workspace(client, name)]
        else:
            rows, _ = client.list_all("/workspaces", limit=LIST_MAX, owner="me")
    print_rows(output, rows, COLUMNS)
    if output == "json":
        return
    for w in rows:
        if w.get("autostart_refusal"):
            click.echo(f"{w['name']}: {w['autostart_refusal']}", err=True)


@schedule.command("start")
@click.argument("name")
@click.argument("cron")
@click.option("--tz", help="IANA time zone of the schedule (default UTC), e.g. Europe/Berlin.")
def start(name: str, cron: str, tz: str | None) -> None:
    """Start WORKSPACE on a 5-field cron schedule ("0 9 * * 1-5"); `manual` turns it off."""
    with logged_in() as client:
        w = get_workspace(client, name)
        body = {"schedule": "" if cron == "manual" else cron}
        if tz:
            body["tz"] = tz
        client.put(f"/workspaces/{w['id']}/autostart", json=body)
        w = get_workspace(client, name)
    if cron == "manual":
        click.echo(f"{display(name, w)} will not start automatically.")
    else:
        click.echo(f"{display(name, w)} starts next at {starts_at(w)}.")


@schedule.command("stop")
@click.argument("name")
@click.argument("duration")
def stop(name: str, duration: str) -> None:
    """Stop WORKSPACE DURATION (8h, 90m) after each start; `manual` turns autostop off."""
    ttl = None if duration == "manual" else parse_duration(duration)
    with logged_in() as client:
        w = get_workspace(client, name)
        client.put(f"/workspaces/{w['id']}/ttl", json={"ttl_ms": ttl * 1000 if ttl else None})
    if ttl is None:
        click.echo(f"{display(name, w)} will not stop automatically.")
        return
    click.echo(f"{display(name, w)} stops {human(ttl)} after each start.")
    if w.get("status") == "running":
        click.echo(
            "This applies from the next start; move the running one's stop with "
            f"`portal schedule extend {name} DURATION`.",
            err=True,
        )


@schedule.command("extend")
@click.argument("name")
@click.argument("duration")
def extend(name: str, duration: str) -> None:
    """Make the running WORKSPACE stop DURATION from now (at least 30m)."""
    seconds = parse_duration(duration)
    deadline = datetime.now(UTC) + timedelta(seconds=seconds)
    with logged_in() as client:
        w = get_workspace(client, name)
        answer = client.put(
            f"/workspaces/{w['id']}/extend", json={"deadline": deadline.isoformat()}
        )
    stamp = _stamp(answer["deadline"]) if answer else deadline
    click.echo(f"{display(name, w)} now stops at {stamp.astimezone(UTC):%Y-%m-%d %H:%M} UTC.")


COMMANDS = (schedule,)


def _ms(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    if text in ("0", "none", "manual"):
        return 0
    try:
        return parse_duration(text) * 1000
    except click.BadParameter:
        raise click.BadParameter(
            f"{text!r}: give a duration such as 8h.", param_hint=option
        ) from None


@click.command("edit")
@click.argument("name")
@click.option("--default-ttl", help="Autostop of new workspaces, e.g. 8h (0: none).")
@click.option("--activity-bump", help="How far activity pushes the stop back, e.g. 1h.")
@click.option("--max-ttl", help="Maximum lifetime of a start, e.g. 24h (0: none). Advanced.")
@click.option(
    "--autostart-days",
    metavar="DAYS",
    help="Days autostart may run: monday,tuesday,... or mon-fri style names; 'all'. Advanced.",
)
@click.option("--allow-user-autostart/--no-allow-user-autostart", default=None, help="Advanced.")
@click.option("--allow-user-autostop/--no-allow-user-autostop", default=None, help="Advanced.")
@click.option(
    "--failure-ttl", help="Stop workspaces whose start failed this long ago, e.g. 24h (0: off)."
)
@click.option("--dormancy-threshold", help="Mark workspaces unused this long dormant, e.g. 30d.")
@click.option(
    "--dormancy-auto-deletion", help="Delete dormant workspaces this long after, e.g. 7d."
)
@click.option(
    "--deprecated",
    "deprecated",
    metavar="MESSAGE",
    help="Deprecate it with this reason: no new workspaces, existing ones warned.",
)
@click.option("--undeprecated", is_flag=True, help="Withdraw its deprecation.")
def edit_template(
    name,
    default_ttl,
    activity_bump,
    max_ttl,
    autostart_days,
    failure_ttl,
    dormancy_threshold,
    dormancy_auto_deletion,
    deprecated,
    undeprecated,
    **flags,
) -> None:
    """Change template NAME's scheduling policy or deprecation (owners and template admins).

    The advanced options need the advanced_template_scheduling feature.
    """
    body: dict = {}
    if deprecated is not None and undeprecated:
        raise click.UsageError("give --deprecated or --undeprecated, not both.")
    if deprecated is not None:
        if not deprecated.strip():
            raise click.BadParameter("give the reason.", param_hint="--deprecated")
        body["deprecation_message"] = deprecated
    if undeprecated:
        body["deprecation_message"] = ""
    for key, value, option in (
        ("default_ttl_ms", default_ttl, "--default-ttl"),
        ("activity_bump_ms", activity_bump, "--activity-bump"),
        ("max_ttl_ms", max_ttl, "--max-ttl"),
        ("failure_ttl_ms", failure_ttl, "--failure-ttl"),
        ("time_til_dormant_ms", dormancy_threshold, "--dormancy-threshold"),
        ("time_til_dormant_autodelete_ms", dormancy_auto_deletion, "--dormancy-auto-deletion"),
    ):
        ms = _ms(value, option)
        if ms is not None:
            body[key] = ms
    if autostart_days is not None:
        days = (
            ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
            if autostart_days.strip() == "all"
            else [d.strip() for d in autostart_days.split(",") if d.strip()]
        )
        body["autostart_requirement"] = {"days_of_week": days}
    body.update({k: v for k, v in flags.items() if v is not None})
    if not body:
        raise click.UsageError("give at least one option to change.")
    with logged_in() as client:
        template = client.request("PATCH", f"/templates/{quote(name)}", json=body)
    if "deprecation_message" in body:
        click.echo(
            f"{template['name']} is deprecated: {template['deprecation_message']}"
            if template["deprecated"]
            else f"{template['name']} is not deprecated."
        )
        if len(body) == 1:
            return
    days = ", ".join(template["autostart_requirement"]["days_of_week"]) or "none"

    def length(ms: int) -> str:
        return human(ms / 1000) if ms else "none"

    click.echo(
        f"{template['name']}: default TTL {length(template['default_ttl_ms'])}, "
        f"activity bump {length(template['activity_bump_ms'])}, "
        f"max lifetime {length(template['max_ttl_ms'])}, autostart days {days}, "
        f"failure cleanup {length(template.get('failure_ttl_ms', 0))}, "
        f"dormant after {length(template.get('time_til_dormant_ms', 0))}, "
        f"deleted when dormant {length(template.get('time_til_dormant_autodelete_ms', 0))}."
    )
