"""Command line of the agent: URL and token from the environment; runs until stopped."""

from __future__ import annotations

import argparse
import os
import sys

from portal_agent import loop
from portal_agent.agent import TOKEN_ENV, URL_ENV, VERSION, Agent, rpc_url
from portal_agent.watchdog import (
    GIVE_UP_ENV,
    GIVE_UP_SECONDS,
    TOKEN_GRACE_ENV,
    TOKEN_GRACE_SECONDS,
)

DESCRIPTION = f"""\
Run the Portal workspace agent. It dials out to the Portal server over a WebSocket (no inbound
port), reports its lifecycle, runs the startup script and portal_script blocks, streams their
output as startup logs and checks app health. It reconnects with backoff when the server or the
network goes away.

Configuration comes from the environment (never from arguments, so the token stays out of ps):
  {URL_ENV}    the server's access URL, e.g. https://portal.example.com
  {TOKEN_ENV}  the agent token issued by the workspace build
  {TOKEN_GRACE_ENV}  how long a refused token is retried (default {TOKEN_GRACE_SECONDS:g})
  {GIVE_UP_ENV}  how long without a working connection before giving up
      (default {GIVE_UP_SECONDS:g}, one day; 0 retries forever, as Coder's agent does)

When the agent gives up, or its working directory or home is removed (the workspace was
deleted under it), it stops everything it started, wherever it went (every process it starts
carries PORTAL_AGENT_INSTANCE), and exits.

Exit status: 0 after SIGTERM/SIGINT (stop scripts ran); 1 when it gave up on the server or
its directory was removed; 2 on a configuration error."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="portal agent",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"portal agent {VERSION}")
    return p


def main(argv: list[str] | None = None) -> int:
    parser().parse_args(argv)
    url = os.environ.get(URL_ENV, "").strip()
    token = os.environ.get(TOKEN_ENV, "").strip()
    missing = [name for name, value in ((URL_ENV, url), (TOKEN_ENV, token)) if not value]
    if missing:
        print(
            f"portal agent: {' and '.join(missing)} must be set in the environment "
            "(the workspace's init script sets them)",
            file=sys.stderr,
        )
        return 2
    try:
        rpc_url(url)
    except ValueError as exc:
        print(f"portal agent: {exc}", file=sys.stderr)
        return 2
    try:
        import websockets  # noqa: F401 - fail early and clearly when the dependency is missing
    except ImportError:
        print(
            "portal agent: the 'websockets' package is missing; run the agent bundle the server "
            "serves, or install websockets",
            file=sys.stderr,
        )
        return 2
    try:
        return loop.run(Agent(url, token).run())
    except KeyboardInterrupt:  # a signal before the handlers were installed
        return 0
