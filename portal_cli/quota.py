"""`portal quota [USER]`: what a user's workspaces cost a day against their budget (the API)."""

from __future__ import annotations

import click

from portal_cli.client import ApiError, logged_in, quote
from portal_cli.output import output_option, print_json


def remaining_line(quota: dict) -> str:
    consumed, budget = quota["credits_consumed"], quota["budget"]
    return f"{consumed} of {budget} a day used, {max(budget - consumed, 0)} left"


def fetch(client, user: str = "me") -> dict | None:
    """The user's quota, or None when the server has none to show (unlicensed, not readable)."""
    try:
        return client.get(f"/users/{quote(user)}/quota")
    except ApiError as exc:
        if exc.status in (403, 404):
            return None
        raise


@click.command("quota")
@click.argument("user", default="me")
@output_option
def quota(user: str, output: str) -> None:
    """Show USER's workspace quota (default: yours): the daily cost of their workspaces'
    latest builds and their budget, the sum of their groups' allowances."""
    with logged_in() as client:
        answer = client.get(f"/users/{quote(user)}/quota")
    if output == "json":
        print_json(answer)
        return
    who = "You" if user == "me" else user
    click.echo(f"{who}: {remaining_line(answer)}.")


COMMANDS = (quota,)
