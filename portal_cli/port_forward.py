"""`portal port-forward`: local TCP ports relayed to ports inside a workspace, one stream each."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import click

from portal_agent import loop, tunnel
from portal_cli.build_runs import get_workspace
from portal_cli.client import API_PREFIX, CLIError, logged_in, quote
from portal_shared.version import __version__

MAX_FRAME = tunnel.MAX_FRAME


def parse_mapping(text: str) -> tuple[int, int]:
    """LOCAL:REMOTE, or just PORT for the same number on both sides; LOCAL 0 = any free port."""
    local, _, remote = text.partition(":")
    try:
        pair = (int(local), int(remote or local))
    except ValueError:
        pair = (-1, -1)
    if not (0 <= pair[0] < 65536 and 0 < pair[1] < 65536):
        raise click.BadParameter(
            f"{text!r}: give LOCAL:REMOTE port numbers (LOCAL 0 picks a free port).",
            param_hint="--tcp",
        )
    return pair


def choose_agent(workspace: dict, name: str) -> dict:
    agents = [a for r in workspace.get("resources") or [] for a in r.get("agents") or []]
    label = f"{workspace.get('owner_name')}/{workspace.get('name')}"
    if not agents:
        raise CLIError(f"workspace {label} has no agent: is it running?")
    if not name:
        return agents[0]
    for agent in agents:
        if agent.get("name") == name:
            return agent
    names = ", ".join(sorted(str(a.get("name")) for a in agents))
    raise CLIError(f"workspace {label} has no agent named {name!r} (agents: {names})")


def stream_url(server_url: str, agent_id: str, port: int) -> str:
    scheme, rest = server_url.rstrip("/").split("://", 1)
    ws_scheme = "wss" if scheme == "https" else "ws"
    path = f"{API_PREFIX}/workspaceagents/{quote(agent_id)}/streams"
    return f"{ws_scheme}://{rest}{path}?kind=tcp&port={port}"


async def open_stream(server_url: str, token: str, url: str):
    """A stream's WebSocket (port-forward, ssh), or CLIError with the server's answer."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus, WebSocketException

    try:
        return await connect(
            url,
            additional_headers={"Authorization": f"Bearer {token}"},
            user_agent_header=f"portal-cli/{__version__}",
            open_timeout=15,
            ping_interval=20,
            ping_timeout=None,  # a stream paused by backpressure must not be timed out
            close_timeout=3,
            max_size=MAX_FRAME,
            compression=None,  # tunnel traffic is binary or encrypted: deflate burns CPU
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        hint = " (run `portal login URL` to sign in again)" if status == 401 else ""
        raise CLIError(f"the server refused the connection: HTTP {status}{hint}") from None
    except (TimeoutError, OSError, WebSocketException) as exc:
        raise CLIError(f"cannot reach {server_url}: {exc or type(exc).__name__}") from None


class Forwarder:
    """Listens on local ports; each accepted connection gets its own stream WebSocket."""

    def __init__(self, server_url: str, token: str, agent_id: str):
        self.server_url = server_url
        self.token = token
        self.agent_id = agent_id
        self._connections: set[asyncio.Task] = set()

    async def run(self, mappings: list[tuple[int, int]]) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        servers = []
        try:
            for local, remote in mappings:
                servers.append(await self._listen(local, remote))
            await stop.wait()
        finally:
            for server in servers:
                server.close()
            for task in list(self._connections):
                task.cancel()
            if self._connections:
                await asyncio.wait(list(self._connections), timeout=5)

    async def _listen(self, local: int, remote: int):
        def accepted(reader, writer):
            task = asyncio.ensure_future(self._forward(reader, writer, remote))
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)

        try:
            server = await asyncio.start_server(accepted, "127.0.0.1", local, limit=MAX_FRAME)
        except OSError as exc:
            raise CLIError(f"cannot listen on 127.0.0.1:{local}: {exc.strerror or exc}") from None
        port = server.sockets[0].getsockname()[1]
        click.echo(f"Forwarding 127.0.0.1:{port} -> workspace:{remote}")
        return server

    async def _forward(self, reader, writer, remote: int) -> None:
        try:
            ws = await open_stream(
                self.server_url, self.token, stream_url(self.server_url, self.agent_id, remote)
            )
        except CLIError as exc:
            _error(remote, str(exc))
            writer.close()
            return
        try:
            async with ws:
                await self._pump(ws, reader, writer, remote)
        finally:
            writer.close()
            with contextlib.suppress(Exception):  # the local peer may already be gone
                await writer.wait_closed()

    async def _pump(self, ws, reader, writer, remote: int) -> None:
        await tunnel.pump(
            ws,
            reader,
            writer,
            on_error=lambda message: _error(remote, message),
            on_refused=lambda code, reason: _error(remote, f"{reason or 'refused'} (code {code})"),
        )


def _error(remote: int, message: str) -> None:
    click.echo(f"error: workspace:{remote}: {message}", err=True)


@click.command("port-forward")
@click.argument("workspace")
@click.option(
    "--tcp",
    "mappings",
    multiple=True,
    required=True,
    metavar="LOCAL:REMOTE",
    help="Listen on 127.0.0.1:LOCAL and relay to port REMOTE in the workspace (repeatable; "
    "LOCAL 0 picks a free port).",
)
@click.option("--agent", "agent_name", default="", help="The agent to reach (default: the first).")
@click.option("--agent-id", default="", hidden=True)  # skips the lookup (scripts, tests)
def port_forward(workspace: str, mappings: tuple[str, ...], agent_name: str, agent_id: str) -> None:
    """Forward local TCP ports to ports inside WORKSPACE (NAME or OWNER/NAME) until Ctrl-C.

    Example: `portal port-forward dev --tcp 8080:3000` makes the workspace's port 3000
    reachable at http://127.0.0.1:8080.
    """
    pairs = [parse_mapping(m) for m in mappings]
    with logged_in() as client:
        if not agent_id:
            agent_id = str(choose_agent(get_workspace(client, workspace), agent_name)["id"])
        forwarder = Forwarder(client.url, client.token, agent_id)
    loop.run(forwarder.run(pairs))


COMMANDS = (port_forward,)
