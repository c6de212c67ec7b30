"""A workspace whose start build recorded an agent, and a fake agent speaking the protocol."""

from __future__ import annotations

import hashlib
import json

from portal.asgi import application
from tests import factories
from tests.workspaces.helpers import buildable_template
from tests.workspaces.test_websocket import WAIT, WebsocketCommunicator
from workspaces.models import WorkspaceAgent, WorkspaceApp, WorkspaceResource

RPC = "/api/v2/workspaceagents/me/rpc"
SCRIPTS = [
    {
        "display_name": "dotfiles",
        "script": "echo dotfiles",
        "cron": "",
        "run_on_start": True,
        "run_on_stop": False,
        "timeout": 0,
        "start_blocks_login": False,
    }
]


def make_agent(owner, token: str = "agent-secret-token", **workspace_kwargs) -> WorkspaceAgent:
    """What a finished start build records: a resource with an agent and one app."""
    ws = factories.workspace(owner, template=buildable_template(), **workspace_kwargs)
    resource = WorkspaceResource.objects.create(
        job_id=ws.latest_build.job_id,
        transition="start",
        type="terraform_data",
        name="vm",
        address="terraform_data.vm",
    )
    agent = WorkspaceAgent.objects.create(
        resource=resource,
        name="main",
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
        directory="/home/coder",
        env={"EDITOR": "vim"},
        startup_script="echo hello",
        scripts=SCRIPTS,
    )
    WorkspaceApp.objects.create(
        agent=agent,
        slug="preview",
        url="http://localhost:8080",
        healthcheck_url="http://localhost:8080/healthz",
        healthcheck_interval=5,
        healthcheck_threshold=3,
        health="initializing",
    )
    return agent


def agent_headers(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


class FakeAgent:
    """The agent's side of the control socket, over the real ASGI application."""

    def __init__(self, token: str | None):
        self.comm = WebsocketCommunicator(
            application, RPC, headers=agent_headers(token) if token else []
        )

    async def open(self) -> dict | None:
        """None when the server keeps the socket (it answers a ping); else its close message."""
        await self.comm.send_input({"type": "websocket.connect"})
        accepted = await self.comm.receive_output(WAIT)
        assert accepted["type"] == "websocket.accept", accepted
        await self.send({"type": "ping", "t": 0.5})
        message = await self.comm.receive_output(WAIT)
        if message["type"] == "websocket.close":
            return message
        assert json.loads(message["text"]) == {"type": "pong", "t": 0.5}
        return None

    async def send(self, body: dict) -> None:
        await self.comm.send_input({"type": "websocket.receive", "text": json.dumps(body)})

    async def receive(self) -> dict:
        message = await self.comm.receive_output(WAIT)
        assert message["type"] == "websocket.send", message
        return json.loads(message["text"])

    async def nothing_more(self) -> bool:
        return await self.comm.receive_nothing(0.3)

    async def hang_up(self) -> None:
        await self.comm.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.comm.wait(WAIT)
