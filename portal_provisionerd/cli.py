"""`portal provisionerd start`: the command (loaded through the `portal.commands` entry point)."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click

from portal_provisionerd.daemon import Daemon, Options

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "portal-provisionerd"


def _tags(values: tuple[str, ...]) -> dict[str, str]:
    tags = {}
    for value in values:
        name, sep, val = value.partition("=")
        if not sep or not name.strip() or not val.strip():
            raise click.BadParameter(f"{value!r}: a tag is KEY=VALUE.", param_hint="--tag")
        tags[name.strip()] = val.strip()
    return tags


@click.group()
def provisionerd() -> None:
    """An external provisioner daemon: runs builds, talks to Portal over HTTPS only."""


@provisionerd.command()
@click.option("--url", envvar="PORTAL_URL", required=True, help="Portal's URL (http or https).")
@click.option(
    "--key",
    envvar="PORTAL_PROVISIONER_KEY",
    required=True,
    help="A provisioner key (`portal provisioner keys create`); or PORTAL_PROVISIONER_KEY.",
)
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Serve jobs with tags.")
@click.option("--name", default=None, help="This daemon's name (default: host name and pid).")
@click.option(
    "--data-dir",
    envvar="PORTAL_PROVISIONERD_DATA_DIR",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Where builds run and keep host-local state.",
)
@click.option(
    "--ca-cert",
    envvar="PORTAL_PROVISIONERD_CA_CERT",
    type=click.Path(exists=True, dir_okay=False),
    help="Trust this CA (PEM) for Portal's TLS certificate, e.g. a self-signed one.",
)
@click.option(
    "--sandbox",
    "sandbox_mode",
    envvar="PORTAL_BUILD_SANDBOX",
    type=click.Choice(["auto", "bwrap", "none"]),
    default="auto",
    show_default=True,
)
@click.option(
    "--dangerous-allow-unsandboxed-builds",
    "allow_unsandboxed",
    envvar="PORTAL_DANGEROUS_ALLOW_UNSANDBOXED_BUILDS",
    is_flag=True,
    help="Run builds without a sandbox where the host cannot sandbox them.",
)
@click.option("--poll-interval", type=float, default=1.0, show_default=True, hidden=True)
@click.option("--once", is_flag=True, hidden=True, help="Stop after one job.")
def start(
    url, key, tags, name, data_dir, ca_cert, sandbox_mode, allow_unsandboxed, poll_interval, once
) -> None:
    """Serve build jobs for Portal at URL with a provisioner key."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"{url!r}: an http(s) URL.", param_hint="--url")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    hostname = socket.gethostname()
    verify: object = True
    if ca_cert:
        verify = ssl.create_default_context(cafile=ca_cert)
    opts = Options(
        url=url,
        key=key,
        name=name or f"{hostname}-{os.getpid()}",
        tags=_tags(tags),
        hostname=hostname,
        data_dir=data_dir,
        sandbox_mode=sandbox_mode,
        allow_unsandboxed=allow_unsandboxed,
        verify=verify,
        poll_interval=poll_interval,
        once=once,
    )
    sys.exit(Daemon(opts).run())


COMMANDS = (provisionerd,)
