"""A Portal server with one connected agent, for the benchmarks: its own database, uvicorn as
`portal server` runs it, and a real agent process (`python -m portal_agent`)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

from harness import REPO, Sandbox, free_port, wait_port

__all__ = ["REPO", "free_port", "portal_with_agent", "uvicorn", "wait_port"]


def uvicorn(sandbox: Sandbox, port: int, env: dict):
    return sandbox.spawn(
        [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--port", str(port),
         "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
         "--log-level", "warning", "--timeout-graceful-shutdown", "2"],
        env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
    )  # fmt: skip


@contextlib.contextmanager
def portal_with_agent(name: str, replicas: int = 2):
    """([replica URLs], a user token, workspace name) with the workspace's agent connected to
    the first replica; streams opened on the others cross a relay link to it. Everything runs
    in a Sandbox of its own (database, Redis, temporary directory), removed at the end."""
    with Sandbox(name) as sandbox:
        sandbox.setup_django()
        from portal.accounts.services import create_token, create_user, system_actor
        from tests.agents.helpers import make_agent

        owner = create_user(
            actor=system_actor(),
            username="bench",
            email="bench@example.com",
            password="bench-password-123456",
            roles=["member"],
        )
        agent = make_agent(owner, token="bench-agent-token")
        _, user_token = create_token(owner, actor=owner, name="bench")
        ports = [free_port() for _ in range(replicas)]
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        for port in ports:
            uvicorn(sandbox, port, env)
        for port in ports:
            wait_port(port)
        sandbox.spawn(
            [sys.executable, "-m", "portal_agent"],
            env={**env, "PORTAL_AGENT_URL": urls[0], "PORTAL_AGENT_TOKEN": "bench-agent-token"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        agent.refresh_from_db()
        while agent.last_connected_at is None:
            if time.monotonic() > deadline:
                sys.exit("the agent did not connect")
            time.sleep(0.2)
            agent.refresh_from_db()
        yield urls, user_token, agent.resource.job.build.workspace.name
