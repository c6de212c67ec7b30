"""The agent's SSH server (asyncssh), reached only through streams: it never listens on a port.

Each `ssh` stream is one SSH connection. Who may connect was decided by the Portal server before
the stream reached us (the user owns the workspace, their token was checked), so the SSH layer
asks for no authentication, like the server's tunnel it rides in. Sessions get a login shell or
run a command (with or without a PTY: window changes, signals, exit status), SFTP (scp), and
TCP forwarding (VS Code Remote-SSH); remote forwards may listen on loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import signal
import socket
import subprocess

from portal_agent import deps, fdio, pty, tunnel

READ_CHUNK = 64 * 1024
LOOPBACK = {"localhost", "127.0.0.1", "::1"}
NO_LOGIN = {"nologin", "false"}


def _shell(env: dict) -> str:
    """The workspace's SHELL (the template's choice, as the web terminal uses), else the
    account's login shell, else /bin/sh. Never a nologin placeholder: the `local` template's
    agent may run as a system user whose account has none (a sandboxed build user)."""
    try:
        account = pwd.getpwuid(os.getuid()).pw_shell
    except KeyError:
        account = ""
    for shell in (env.get("SHELL") or "", account):
        if shell and os.path.basename(shell) not in NO_LOGIN and os.access(shell, os.X_OK):
            return shell
    return "/bin/sh"


def exit_status(returncode: int) -> tuple[int | None, str | None]:
    """(exit code, signal name) of a finished child, as SSH reports them."""
    if returncode >= 0:
        return returncode, None
    try:
        name = signal.Signals(-returncode).name.removeprefix("SIG")
    except ValueError:
        return 128 - returncode, None
    return None, name


class Server:
    """The SSH server of one agent: its host key and dependencies, loaded on first use."""

    def __init__(self, server_url: str, env, workdir, log):
        self._server_url = server_url
        self._env = env  # () -> the environment sessions start with
        self._workdir = workdir  # (env) -> the directory sessions start in
        self._log = log
        self._ready: asyncio.Future | None = None
        self._asyncssh = None
        self._server_class = None
        self._host_key = None

    def prepare(self) -> asyncio.Future:
        """Fetch the dependencies and the host key once, in the background; shared by all."""
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._load())
        return self._ready

    async def _load(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            import asyncssh  # installed next to the agent (e.g. `portal agent` on the server)
        except ImportError:
            await loop.run_in_executor(None, deps.install, self._server_url)
            import asyncssh
        self._asyncssh = asyncssh
        self._server_class = _server_class(asyncssh)
        self._host_key = await loop.run_in_executor(None, self._load_host_key)

    def _load_host_key(self):
        path = deps.cache_root().parent / "ssh_host_ed25519_key"  # kept: clients see one key
        if path.exists():
            return self._asyncssh.read_private_key(str(path))
        key = self._asyncssh.generate_private_key("ssh-ed25519")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.export_private_key())
        os.replace(tmp, path)
        return key

    async def serve(self, ws, refuse) -> None:
        """One SSH connection over the stream's WebSocket, until either side ends it."""
        try:
            await self.prepare()
        except Exception as exc:  # noqa: BLE001 - told to the user, then the next try retries
            self._ready = None
            await refuse(f"SSH is not available in this workspace: {exc}")
            return
        ours, theirs = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=theirs, limit=tunnel.MAX_FRAME)
        pump = asyncio.ensure_future(
            tunnel.pump(
                ws,
                reader,
                writer,
                on_error=lambda m: self._log(f"ssh stream error from the server: {m}"),
                on_refused=lambda c, r: self._log(f"ssh stream closed by the server: {c} {r}"),
            )
        )
        conn = None
        try:
            conn = await self._asyncssh.run_server(
                ours,
                server_factory=self._server_class,
                server_host_keys=[self._host_key],
                process_factory=self._session,
                sftp_factory=self._sftp_factory(),
                allow_scp=True,
                encoding=None,
                agent_forwarding=False,
                x11_forwarding=False,
                login_timeout=30,
                # Bigger than SSH's customary 32 KiB packets: per-packet work dominates bulk
                # transfers (the client chooses the size of what it receives).
                window=8 * 1024 * 1024,
                max_pktsize=256 * 1024,
            )
            closed = asyncio.ensure_future(conn.wait_closed())
            await asyncio.wait({pump, closed}, return_when=asyncio.FIRST_COMPLETED)
        except (OSError, self._asyncssh.Error) as exc:
            self._log(f"ssh connection failed: {exc}")
        finally:
            if conn is not None:
                conn.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.wait_closed(), 5)
            ours.close()
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pump, 5)
            pump.cancel()

    def _sftp_factory(self):
        base = self._asyncssh.SFTPServer
        home = os.fsencode(self._env().get("HOME") or os.path.expanduser("~"))

        class HomeSFTP(base):
            """Relative paths (scp's default target) are in the home directory, like sshd's."""

            def map_path(self, path: bytes) -> bytes:
                return path if path.startswith(b"/") else os.path.join(home, path)

            def exit(self) -> None:
                super().exit()
                # asyncssh closes the channel with no exit status; OpenSSH's scp (SFTP mode)
                # then reports failure although every byte arrived. sftp-server exits 0.
                with contextlib.suppress(Exception):
                    self.channel.exit(0)

        return HomeSFTP

    async def _session(self, process) -> None:
        env = self._env()
        env.update({str(k): str(v) for k, v in (process.env or {}).items()})
        env["SSH_CONNECTION"] = "portal 0 127.0.0.1 22"  # a tunnel has no client address
        env["SHELL"] = _shell(env)
        env.setdefault("USER", pwd.getpwuid(os.getuid()).pw_name)
        command = process.command
        if process.subsystem:
            process.stderr.write(f"subsystem {process.subsystem} is not supported\r\n".encode())
            process.exit(1)
            return
        try:
            if process.term_type:
                env["TERM"] = process.term_type
                code = await _run_pty(process, command, env, self._workdir(env))
            else:
                code = await _run_pipes(process, command, env, self._workdir(env))
        except OSError as exc:
            process.stderr.write(f"portal agent: cannot start the session: {exc}\n".encode())
            process.exit(127)
            return
        status, signame = exit_status(code)
        if signame:
            process.exit_with_signal(signame)
        else:
            process.exit(status)


def _argv(command: str | None, env: dict) -> tuple[str, list[str]]:
    shell = env["SHELL"]
    if command:
        return shell, [shell, "-c", command]
    return shell, ["-" + os.path.basename(shell)]  # a login shell, as sshd starts it


def _server_class(asyncssh):
    """asyncssh's server callbacks, once asyncssh is importable (it may come from the server)."""

    class PortalSSHServer(asyncssh.SSHServer):
        """No authentication; TCP forwarding as sshd allows it by default."""

        def begin_auth(self, username: str) -> bool:
            return False  # the Portal server authorized this stream

        def connection_requested(self, dest_host, dest_port, orig_host, orig_port) -> bool:
            return True  # -L and VS Code Remote-SSH: from inside the workspace, as the user

        def unix_connection_requested(self, dest_path) -> bool:
            return True

        def server_requested(self, listen_host, listen_port) -> bool:
            # -R listens inside the workspace on loopback only ("" would be every interface,
            # where sshd's GatewayPorts=no would still bind loopback): never open the
            # workspace to its network.
            return listen_host in LOOPBACK

    return PortalSSHServer


async def _pipe_out(stream, channel) -> None:
    while data := await stream.read(READ_CHUNK):
        channel.write(data)
        await channel.drain()


async def _pipe_in(process, stdin, on_signal, on_resize=None) -> None:
    """The client's input into `stdin` until EOF; window changes, signals and breaks on the way."""
    from asyncssh import BreakReceived, SignalReceived, TerminalSizeChanged

    while True:
        try:
            data = await process.stdin.read(READ_CHUNK)
        except TerminalSizeChanged as exc:
            if on_resize is not None:
                on_resize(exc.width, exc.height)
            continue
        except SignalReceived as exc:
            on_signal(exc.signal)
            continue
        except BreakReceived:
            on_signal("INT")
            continue
        if not data:
            break
        await stdin(data)


def _signal_group(proc: subprocess.Popen | asyncio.subprocess.Process, name: str) -> None:
    with contextlib.suppress(AttributeError, ProcessLookupError, PermissionError, ValueError):
        os.killpg(proc.pid, getattr(signal, "SIG" + str(name).upper()))


async def _run_pipes(process, command, env, cwd) -> int:
    """A command (or a shell) without a terminal: stdin, stdout, stderr piped."""
    shell, argv = _argv(command, env)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        executable=shell,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=env,
        start_new_session=True,
        limit=READ_CHUNK,
    )

    async def write(data: bytes) -> None:
        proc.stdin.write(data)
        await proc.stdin.drain()

    async def feed() -> None:
        with contextlib.suppress(OSError, ConnectionResetError, BrokenPipeError):
            await _pipe_in(process, write, lambda name: _signal_group(proc, name))
            proc.stdin.close()

    feeder = asyncio.ensure_future(feed())
    try:
        await asyncio.gather(
            _pipe_out(proc.stdout, process.stdout), _pipe_out(proc.stderr, process.stderr)
        )
        return await proc.wait()
    finally:
        feeder.cancel()
        if proc.returncode is None:
            _signal_group(proc, "HUP")  # the client went away mid-command, as sshd does
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5)


async def _run_pty(process, command, env, cwd) -> int:
    """A shell or command on a PTY of the client's size; window changes resize it."""
    shell, argv = _argv(command, env)
    cols, rows = process.term_size[:2]
    proc, master = pty.spawn(
        argv, env=env, cwd=cwd, rows=rows or 24, cols=cols or 80, executable=shell
    )
    loop = asyncio.get_running_loop()
    terminal = fdio.AsyncFD(loop, master)

    def on_resize(width: int, height: int) -> None:
        with contextlib.suppress(OSError):
            if width > 0 and height > 0:
                pty.set_size(master, height, width)  # the kernel sends the shell SIGWINCH

    async def feed() -> None:
        with contextlib.suppress(OSError):
            await _pipe_in(
                process, terminal.write, lambda name: _signal_group(proc, name), on_resize
            )

    feeder = asyncio.ensure_future(feed())
    try:
        while data := await terminal.read(READ_CHUNK):
            process.stdout.write(data)
            await process.stdout.drain()
        return await loop.run_in_executor(None, proc.wait)
    finally:
        feeder.cancel()
        with contextlib.suppress(OSError):
            os.close(master)
        if proc.poll() is None:
            _signal_group(proc, "HUP")
