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


def uvicorn(sandbox: Sandbox, port: int, env: dict, log=None):
    """A web process as `portal server` runs one; its output to `log` (a file) if given."""
    output = {"stdout": log, "stderr": subprocess.STDOUT} if log is not None else {}
    return sandbox.spawn(
        [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--port", str(port),
         "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
         "--log-level", "warning", "--timeout-graceful-shutdown", "2"],
        env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        **output,
    )  # fmt: skip


@contextlib.contextmanager
def portal_with_agent(name: str, replicas: int = 2, *, logs: bool = False):
    """([replica URLs], a user token, workspace name, the Sandbox: for more processes) with the
    workspace's agent connected to the first replica; streams opened on the others cross a relay
    link to it. Everything runs in a Sandbox of its own (database, Redis, temporary directory),
    removed at the end. `logs`: each replica's output goes to `replica-N.log` and the agent's to
    `agent.log` in the sandbox's directory (to scan them), instead of this terminal / nowhere."""
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
        files = []
        for number, port in enumerate(ports):
            log = open(sandbox.dir / f"replica-{number}.log", "ab") if logs else None  # noqa: SIM115
            files += [log] if log else []
            uvicorn(sandbox, port, env, log)
        for port in ports:
            wait_port(port)
        agent_log = open(sandbox.dir / "agent.log", "ab") if logs else subprocess.DEVNULL  # noqa: SIM115
        sandbox.spawn(
            [sys.executable, "-m", "portal_agent"],
            env={**env, "PORTAL_AGENT_URL": urls[0], "PORTAL_AGENT_TOKEN": "bench-agent-token"},
            stdout=agent_log,
            stderr=subprocess.STDOUT if logs else subprocess.DEVNULL,
        )
        if logs:
            files.append(agent_log)
        deadline = time.monotonic() + 30
        agent.refresh_from_db()
        while agent.last_connected_at is None:
            if time.monotonic() > deadline:
                sys.exit("the agent did not connect")
            time.sleep(0.2)
            agent.refresh_from_db()
        try:
            yield urls, user_token, agent.resource.job.build.workspace.name, sandbox
        finally:
            sandbox.stop_all()
            for file in files:
                file.close()
