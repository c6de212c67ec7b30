"""`portal ssh`: a shell or command in a workspace, or a ProxyCommand for OpenSSH, via the server.

The SSH connection rides one `ssh` stream (a WebSocket to the server, relayed to the agent's SSH
server); the server decides who may open it. Interactive sessions get a PTY of the local
terminal's size that follows window changes; exit codes come back as the remote command's
(255 when the connection fails, like OpenSSH).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time

import click

from portal_agent import tunnel
from portal_cli.build_runs import get_workspace
from portal_cli.client import API_PREFIX, CLIError, logged_in, quote
from portal_cli.port_forward import choose_agent, open_stream
from portal_cli.ssh_io import FD, raw_terminal

CONNECTION_FAILED = 255  # what OpenSSH exits with when it could not connect or lost the link
# Fastest first on x86/arm with AES instructions; the rest keep any peer working.
CIPHERS = [
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
]
READ_CHUNK = 64 * 1024
# Bigger packets than SSH's customary 32 KiB: per-packet work (MAC, framing, Python calls)
# dominates bulk transfers. What we receive; the agent advertises the same for what it does.
MAX_PACKET = 256 * 1024
WINDOW = 8 * 1024 * 1024


def stream_url(server_url: str, agent_id: str) -> str:
    scheme, rest = server_url.rstrip("/").split("://", 1)
    ws_scheme = "wss" if scheme == "https" else "ws"
    return f"{ws_scheme}://{rest}{API_PREFIX}/workspaceagents/{quote(agent_id)}/streams?kind=ssh"


def split_target(target: str) -> tuple[str, str]:
    """WORKSPACE[.AGENT] (OWNER/ allowed in front): the workspace ref and the agent name."""
    owner, _, rest = target.rpartition("/")
    name, _, agent = rest.partition(".")
    if not name:
        raise CLIError(f"{target!r}: give a workspace as NAME, NAME.AGENT or OWNER/NAME.")
    return (f"{owner}/{name}" if owner else name), agent


def wait_for_agent(client, target: str, timeout: float, quiet: bool) -> dict:
    """The agent to connect to, once it is connected; a clear error when it will not be."""
    ref, agent_name = split_target(target)
    deadline = time.monotonic() + timeout
    told = False
    while True:
        workspace = get_workspace(client, ref)
        status = workspace.get("status")
        if status in {"stopped", "stopping", "canceled", "failed", "deleting", "deleted"}:
            hint = f"start it with `portal start {ref}`" if status != "deleting" else "it is gone"
            raise CLIError(f"workspace {ref} is {status}: {hint}.")
        agent = None
        if status == "running":
            agent = choose_agent(workspace, agent_name)
            if agent.get("status") == "connected":
                if agent.get("lifecycle_state") in {"created", "starting"} and not quiet:
                    click.echo("Note: the workspace's startup scripts are still running.", err=True)
                return agent
        if time.monotonic() >= deadline:
            state = agent.get("status") if agent else status
            raise CLIError(
                f"workspace {ref}: the agent is not connected ({state}) after {timeout:.0f} s; "
                f"see `portal builds logs {ref}`."
            )
        if not told and not quiet:
            click.echo(f"Waiting for the agent of {ref} to connect...", err=True)
            told = True
        time.sleep(1)


class Refusal:
    """The first reason the server or agent gave for ending the stream."""

    def __init__(self):
        self.message = ""

    def error(self, message: str) -> None:
        self.message = self.message or message

    def refused(self, code: int, reason: str) -> None:
        self.message = self.message or f"{reason or 'refused'} (code {code})"


async def _pump_stdio(ws) -> None:
    """--stdio: the raw SSH bytes between our stdin/stdout and the stream."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=tunnel.MAX_FRAME)
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, sys.stdout
        )
    except ValueError as exc:  # a regular file: OpenSSH always gives pipes or sockets
        raise CLIError(f"--stdio needs stdin and stdout to be pipes or sockets: {exc}") from None
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    refusal = Refusal()
    await tunnel.pump(ws, reader, writer, on_error=refusal.error, on_refused=refusal.refused)
    if refusal.message:
        raise CLIError(refusal.message)


async def _session(ws, command: str | None, want_tty: bool, forward_stdin: bool) -> int:
    """An SSH client on the stream: a shell or the command; the remote exit code."""
    import asyncssh

    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours, limit=tunnel.MAX_FRAME)
    refusal = Refusal()
    pump = asyncio.ensure_future(
        tunnel.pump(ws, reader, writer, on_error=refusal.error, on_refused=refusal.refused)
    )
    try:
        try:
            conn = await asyncssh.connect(
                "workspace",  # a name only: a socketpair has no peer address to take it from
                sock=theirs,
                username=os.environ.get("USER") or "portal",
                known_hosts=None,  # the server authenticated this tunnel to this agent
                client_keys=None,
                agent_path=None,
                encryption_algs=CIPHERS,
                compression_algs=["none"],
                config=None,
                keepalive_interval=30,
            )
        except (OSError, asyncssh.Error) as exc:
            await asyncio.wait({pump}, timeout=2)  # let the server's reason arrive
            raise CLIError(refusal.message or f"SSH connection failed: {exc}") from None
        async with conn:
            return await _run(conn, command, want_tty, forward_stdin)
    finally:
        writer.close()
        pump.cancel()
        with contextlib.suppress(BaseException):
            await pump
        theirs.close()


async def _run(conn, command: str | None, want_tty: bool, forward_stdin: bool) -> int:
    import asyncssh

    term_type = term_size = None
    if want_tty:
        term_type = os.environ.get("TERM") or "xterm-256color"
        size = os.get_terminal_size(sys.stdout.fileno())
        term_size = (size.columns, size.lines)
    process = await conn.create_process(
        command,
        term_type=term_type,
        term_size=term_size,
        encoding=None,
        window=WINDOW,
        max_pktsize=MAX_PACKET,
    )
    loop = asyncio.get_running_loop()
    if want_tty:

        def resized() -> None:
            with contextlib.suppress(OSError):
                size = os.get_terminal_size(sys.stdout.fileno())
                process.change_terminal_size(size.columns, size.lines)

        loop.add_signal_handler(signal.SIGWINCH, resized)
    stdin, stdout, stderr = FD(loop, 0), FD(loop, 1), FD(loop, 2)
    feeder = asyncio.ensure_future(_feed(stdin, process) if forward_stdin else _no_input(process))
    try:
        await asyncio.gather(_drain(process.stdout, stdout), _drain(process.stderr, stderr))
        completed = await process.wait(check=False)
    except asyncssh.Error as exc:
        raise CLIError(f"SSH session failed: {exc}") from None
    finally:
        feeder.cancel()
        if want_tty:
            loop.remove_signal_handler(signal.SIGWINCH)
        for fd in (stdin, stdout, stderr):
            fd.restore()
    if completed.exit_signal:
        number = getattr(signal, "SIG" + completed.exit_signal[0], None)
        return 128 + int(number) if number else CONNECTION_FAILED
    return completed.exit_status if completed.exit_status is not None else CONNECTION_FAILED


async def _feed(stdin: FD, process) -> None:
    with contextlib.suppress(OSError, BrokenPipeError):
        while data := await stdin.read(READ_CHUNK):
            process.stdin.write(data)
            await process.stdin.drain()
        process.stdin.write_eof()


async def _no_input(process) -> None:
    process.stdin.write_eof()


async def _drain(stream, out: FD) -> None:
    while data := await stream.read(READ_CHUNK):
        await out.write(data)


async def _main(client_url: str, token: str, agent_id: str, mode: str, command, tty, stdin_on):
    ws = await open_stream(client_url, token, stream_url(client_url, agent_id))
    try:
        if mode == "stdio":
            await _pump_stdio(ws)
            return 0
        return await _session(ws, command, tty, stdin_on)
    finally:
        with contextlib.suppress(Exception):
            await ws.close()


@click.command(
    "ssh", context_settings={"ignore_unknown_options": False, "allow_interspersed_args": False}
)
@click.argument("workspace")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--stdio", is_flag=True, help="Relay raw SSH on stdin/stdout (an ssh ProxyCommand).")
@click.option("-t", "force_tty", is_flag=True, help="Give the command a terminal (PTY).")
@click.option("-T", "no_tty", is_flag=True, help="Never allocate a terminal.")
@click.option("-n", "no_stdin", is_flag=True, help="Do not send stdin to the command.")
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(min=0),
    default=120,
    show_default=True,
    help="Seconds to wait for the workspace's agent to connect.",
)
@click.option("--agent-id", default="", hidden=True)  # skips the lookup (scripts, tests)
def ssh(
    workspace: str,
    command: tuple[str, ...],
    stdio: bool,
    force_tty: bool,
    no_tty: bool,
    no_stdin: bool,
    wait_seconds: float,
    agent_id: str,
) -> None:
    """Open a shell in WORKSPACE (NAME, NAME.AGENT or OWNER/NAME), or run COMMAND there.

    \b
    portal ssh dev                  an interactive shell
    portal ssh dev -- make test     run a command; its exit code is ours
    portal ssh --stdio dev          raw SSH for OpenSSH (see `portal config-ssh`)
    """
    if stdio and command:
        raise click.UsageError("--stdio relays raw SSH: it takes no command.")
    if command and command[0] == "--":  # options end at WORKSPACE, so click keeps the "--"
        command = command[1:]
    remote = " ".join(command) or None  # as OpenSSH joins its arguments
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    tty = not no_tty and (force_tty or (remote is None and interactive))
    if tty and not sys.stdout.isatty():
        raise click.UsageError("-t needs stdout to be a terminal.")
    with logged_in() as client:
        if not agent_id:
            agent_id = str(wait_for_agent(client, workspace, wait_seconds, quiet=stdio)["id"])
        url, token = client.url, client.token
    mode = "stdio" if stdio else "session"
    try:
        with raw_terminal(tty):
            code = asyncio.run(_main(url, token, agent_id, mode, remote, tty, not no_stdin))
    except CLIError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(CONNECTION_FAILED)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code)


COMMANDS = (ssh,)
