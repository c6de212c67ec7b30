"""`portal users ...` (being written)."""

import click


@click.group()
def users():
    """Manage users."""
