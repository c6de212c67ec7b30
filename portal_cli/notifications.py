"""`portal notifications`: your inbox, marking read, your preferences, and (owners) a test."""

from __future__ import annotations

import click

from portal_cli.client import logged_in
from portal_cli.output import output_option, print_json, print_rows, print_table, when


@click.group("notifications")
def notifications() -> None:
    """What Portal told you (workspaces stopping, builds failing...), and how it tells you."""


@notifications.command("list")
@click.option("--unread", is_flag=True, help="Only the ones you have not read.")
@click.option("--limit", type=click.IntRange(1, 1000), default=25, show_default=True)
@output_option
def list_notifications(unread: bool, limit: int, output: str) -> None:
    """Your notifications, newest first."""
    with logged_in() as client:
        params = {"unread": "true"} if unread else {}
        rows, count = client.list_all("/notifications/inbox", limit=limit, **params)
        unread_count = client.get("/notifications/inbox", unread="true", limit=1)["count"]
    if output == "json":
        print_json({"count": count, "unread_count": unread_count, "results": rows})
        return
    print_rows(
        output,
        rows,
        [
            ("ID", lambda r: r["id"]),
            ("WHEN", lambda r: when(r["created_at"])),
            ("READ", lambda r: "yes" if r["is_read"] else "no"),
            ("KIND", lambda r: r["kind"]),
            ("TITLE", lambda r: r["title"]),
        ],
    )
    click.echo(f"{unread_count} unread of {count}.", err=True)


@notifications.command("read")
@click.argument("notification_id", required=False)
@click.option("--all", "all_", is_flag=True, help="Mark every unread notification read.")
@click.option("--unread", "unread", is_flag=True, help="Mark ID unread again instead.")
def read(notification_id: str | None, all_: bool, unread: bool) -> None:
    """Mark a notification (ID) or --all of them read."""
    if bool(notification_id) == all_:
        raise click.UsageError("give a notification ID or --all (one of them).")
    if all_ and unread:
        raise click.UsageError("--unread goes with an ID, not with --all.")
    with logged_in() as client:
        if all_:
            answer = client.put("/notifications/inbox/mark-all-as-read")
            click.echo(f"Marked {answer['marked']} notifications read.")
            return
        row = client.put(
            f"/notifications/inbox/{notification_id}/read-status", json={"is_read": not unread}
        )
    click.echo(f"{row['title']}: {'read' if row['is_read'] else 'unread'}.")


def _parse(values: tuple[str, ...], on: bool) -> dict[str, dict[str, bool]]:
    """KIND (every method) or KIND:METHOD, to {kind: {method: on}}."""
    changes: dict[str, dict[str, bool]] = {}
    for value in values:
        kind, _, method = value.partition(":")
        methods = [method] if method else ["inbox", "email", "webhook"]
        for m in methods:
            changes.setdefault(kind, {})[m] = on
    return changes


@notifications.command("preferences")
@click.option(
    "--disable", multiple=True, metavar="KIND[:METHOD]", help="Stop KIND (by METHOD only)."
)
@click.option("--enable", multiple=True, metavar="KIND[:METHOD]", help="Send KIND again.")
@click.option("--user", default="me", show_default=True, help="Whose (owners: anyone's).")
@output_option
def preferences(disable: tuple, enable: tuple, user: str, output: str) -> None:
    """Show or change which notifications you get, per method (inbox, email, webhook).

    Examples: --disable build_failed:email, --enable workspace_autostop_soon.
    """
    changes = _parse(enable, True)
    for kind, methods in _parse(disable, False).items():
        changes.setdefault(kind, {}).update(methods)
    with logged_in() as client:
        path = f"/users/{user}/notifications/preferences"
        answer = client.put(path, json={"preferences": changes}) if changes else client.get(path)
    if output == "json":
        print_json(answer)
        return
    methods = list(answer["methods"])
    print_table(
        ["KIND", *(m.upper() for m in methods)],
        (
            [
                row["kind"] + ("" if row["optional"] else " (always)"),
                *("on" if row["methods"][m] else "off" for m in methods),
            ]
            for row in answer["preferences"]
        ),
    )
    for method, state in answer["methods"].items():
        click.echo(f"{method}: {state}", err=True)


@notifications.command("test")
def test() -> None:
    """Send yourself a test notification through every method (owners)."""
    with logged_in() as client:
        answer = client.post("/notifications/test")
    for method, state in answer["methods"].items():
        click.echo(f"{method}: {state}")


COMMANDS = (notifications,)
