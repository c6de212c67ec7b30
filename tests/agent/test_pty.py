"""The agent's reconnecting PTY (web terminal) streams: keystrokes, resize, reattach, exit."""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import pytest
from websockets.exceptions import ConnectionClosed

from tests.agent.fakeserver import stop_agent
from tests.agent.test_streams import StreamServer, read_all

WAIT = 15


@pytest.fixture
def pty_server(run_agent, tmp_path):
    def start(env=None, manifest=None):
        server = StreamServer(manifest).start()
        servers.append(server)
        agents.append(run_agent(server.url, env={"SHELL": "/bin/sh", **(env or {})}))
        server.wait(lambda: server.control is not None and server.of_type("hello"), what="hello")
        return server

    servers, agents = [], []
    yield start
    for agent in agents:  # while their server is up: they say goodbye and are gone at once
        stop_agent(agent)
    for server in servers:
        server.stop()


async def open_pty(server, reconnect: str, rows=24, cols=80, command=""):
    stream = str(uuid.uuid4())
    future = server._socket(stream)
    message = {
        "type": "open_stream",
        "stream": stream,
        "kind": "pty",
        "reconnect": reconnect,
        "rows": rows,
        "cols": cols,
        "command": command,
    }
    await server.control.send(json.dumps(message))
    return await asyncio.wait_for(future, 10)


class Term:
    """One data socket of a PTY stream, with everything it has received so far."""

    def __init__(self, ws):
        self.ws = ws
        self.output = b""
        self.controls: list[dict] = []

    async def type(self, line: str) -> None:
        await self.ws.send(line.encode() + b"\r")

    async def until(self, pattern: str) -> re.Match:
        """Read until the output (as text) matches pattern."""

        async def read():
            while True:
                found = re.search(pattern, self.output.decode(errors="replace"))
                if found:
                    return found
                message = await self.ws.recv()
                if isinstance(message, bytes):
                    self.output += message
                else:
                    self.controls.append(json.loads(message))

        try:
            return await asyncio.wait_for(read(), WAIT)
        except asyncio.TimeoutError:  # noqa: UP041 - the agent supports Python 3.9
            raise AssertionError(f"no {pattern!r} in {self.output!r}") from None

    async def rest(self) -> tuple[bytes, list[dict]]:
        data, controls = await asyncio.wait_for(read_all(self.ws), WAIT)
        return self.output + data, self.controls + controls


def test_keystrokes_run_in_a_shell_in_the_home_directory(pty_server, tmp_path):
    server = pty_server()

    async def scenario():
        term = Term(await open_pty(server, str(uuid.uuid4())))
        # The tty echoes what we type; quotes keep the echo apart from the command's output
        # (which may follow a prompt the shell printed late, so it need not start a line).
        await term.type('echo h""i')
        await term.until(r"hi\r?\n")
        await term.type('echo "T=$TERM D=$(pwd)."')
        found = await term.until(r"T=([\w-]+) D=(/\S*)\.")
        await term.ws.close()
        return found.groups()

    term, directory = server.call(scenario())
    assert term == "xterm-256color"
    assert directory == str(tmp_path / "home")


def test_initial_size_and_resize(pty_server):
    server = pty_server()

    async def scenario():
        term = Term(await open_pty(server, str(uuid.uuid4()), rows=30, cols=100))
        await term.type('echo "S=$(stty size)."')
        first = (await term.until(r"S=(\d+ \d+)\.")).group(1)
        await term.ws.send(json.dumps({"type": "resize", "rows": 40, "cols": 120}))
        await term.type('echo "R=$(stty size)."')
        second = (await term.until(r"R=(\d+ \d+)\.")).group(1)
        await term.ws.close()
        return first, second

    assert server.call(scenario()) == ("30 100", "40 120")


def test_reconnect_replays_output_to_the_same_shell(pty_server):
    server = pty_server()
    reconnect = str(uuid.uuid4())

    async def scenario():
        term = Term(await open_pty(server, reconnect))
        await term.type("FOO=bar42")
        await term.type('echo "P=$$ B=before."')
        pid = (await term.until(r"P=(\d+) B=before\.")).group(1)
        await term.ws.close()

        again = Term(await open_pty(server, reconnect, rows=50, cols=90))
        await again.until(r"P=\d+ B=before\.")  # replayed from the buffer, before anything new
        replayed = again.output
        await again.type('echo "P=$$ V=$FOO S=$(stty size) after."')
        found = await again.until(r"P=(\d+) V=(\w*) S=(\d+ \d+) after\.")
        await again.ws.close()

        other = Term(await open_pty(server, str(uuid.uuid4())))  # another id: another shell
        await other.type('echo "P=$$ V=$FOO other."')
        found_other = await other.until(r"P=(\d+) V=(\w*) other\.")
        await other.ws.close()
        return pid, replayed, found.groups(), found_other.groups()

    pid, replayed, (pid_after, foo, size), (other_pid, other_foo) = server.call(scenario())
    assert b"FOO=bar42" in replayed  # the echo of what was typed before, too
    assert (pid_after, foo) == (pid, "bar42")
    assert size == "50 90"  # the reattaching client's size applies
    assert other_pid != pid and other_foo == ""


def test_shell_exit_sends_the_code_and_ends_the_session(pty_server):
    server = pty_server()
    reconnect = str(uuid.uuid4())

    async def scenario():
        term = Term(await open_pty(server, reconnect))
        await term.type('echo "P=$$."')
        pid = (await term.until(r"P=(\d+)\.")).group(1)
        await term.type("exit 3")
        _, controls = await term.rest()
        code = term.ws.close_code
        # The session is gone: the same id starts a new shell.
        again = Term(await open_pty(server, reconnect))
        await again.type('echo "P=$$ new."')
        new_pid = (await again.until(r"P=(\d+) new\.")).group(1)
        await again.ws.close()
        return pid, controls, code, new_pid

    pid, controls, code, new_pid = server.call(scenario())
    assert controls == [{"type": "exit", "code": 3}]
    assert code == 1000
    assert new_pid != pid


def test_command_runs_instead_of_the_shell(pty_server):
    server = pty_server()

    async def scenario():
        ws = await open_pty(server, str(uuid.uuid4()), command="echo from-command; exit 7")
        return await asyncio.wait_for(read_all(ws), WAIT)

    data, controls = server.call(scenario())
    assert b"from-command" in data
    assert controls == [{"type": "exit", "code": 7}]


def test_detached_session_expires(pty_server):
    server = pty_server(env={"PORTAL_AGENT_PTY_RECONNECT_SECONDS": "0.5"})
    reconnect = str(uuid.uuid4())

    async def scenario():
        term = Term(await open_pty(server, reconnect))
        await term.type('echo "P=$$."')
        pid = (await term.until(r"P=(\d+)\.")).group(1)
        await term.ws.close()
        # 0.5 s after the detach the shell ends; a loaded machine may take longer to get there,
        # and a reconnect before it reattaches (and detaches again on close): try a few times.
        for wait in (2, 3, 5, 8):
            await asyncio.sleep(wait)
            again = Term(await open_pty(server, reconnect))
            await again.type('echo "P=$$ new."')
            new_pid = (await again.until(r"P=(\d+) new\.")).group(1)
            await again.ws.close()
            if new_pid != pid:
                break
        return pid, again.output, new_pid

    pid, output, new_pid = server.call(scenario())
    assert new_pid != pid
    assert f"P={pid}.".encode() not in output  # nothing replayed from the expired shell


def test_missing_reconnect_id_is_refused(pty_server):
    server = pty_server()

    async def scenario():
        ws = await open_pty(server, "not-a-uuid")
        try:
            return await asyncio.wait_for(read_all(ws), WAIT)
        except ConnectionClosed:  # pragma: no cover - read_all swallows it
            return b"", []

    data, controls = server.call(scenario())
    assert data == b""
    assert controls[0]["type"] == "error" and "terminal" in controls[0]["message"]
