"""`portal tokens ...` (being written)."""

import click


@click.group()
def tokens():
    """Manage your API tokens."""
