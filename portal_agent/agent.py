"""The agent's work: the control connection, lifecycle, streams and app health checks.

Running the template's scripts (startup, cron, stop) is in scripts.py.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import random
import secrets
import shlex
import shutil
import signal
import time
import urllib.error
import urllib.parse
import urllib.request

from portal_agent import (
    apps,
    gitaskpass,
    gitssh,
    health,
    listening,
    pty,
    ssh,
    streams,
    watchdog,
    workspace_cli,
)
from portal_agent.diagnostics import log
from portal_agent.processes import ScriptGroups
from portal_agent.scripts import Scripts
from portal_shared.version import __version__ as VERSION

TOKEN_ENV = "PORTAL_AGENT_TOKEN"
URL_ENV = "PORTAL_AGENT_URL"
RPC_PATH = "/api/v2/workspaceagents/me/rpc"
PING_INTERVAL = 5.0
LOG_FLUSH_INTERVAL = 0.1
LOG_BATCH_MAX = 500
# Log lines kept while disconnected; beyond this the oldest are dropped (and counted).
LOG_BACKLOG_MAX = 20000
BACKOFF_MIN = 0.5
BACKOFF_MAX = 30.0
# After losing a connection that worked (its server replica died, the load balancer sends the
# next attempt to another), retries stay at most this far apart for FAILOVER_WINDOW seconds,
# so the agent is back within seconds of its replica's death, not after a 30 s backoff.
FAILOVER_BACKOFF_MAX = 2.0
FAILOVER_WINDOW = 60.0
MANIFEST_TIMEOUT = 30.0
DRAIN_TIMEOUT = 10.0
KILL_GRACE = 3.0
CLOSE_BAD_TOKEN = 4401
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm"}


def rpc_url(base: str) -> str:
    """The control WebSocket URL for an access URL (http(s) becomes ws(s))."""
    parts = urllib.parse.urlsplit(base.strip())
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme.lower())
    if not scheme or not parts.netloc:
        raise ValueError(f"{URL_ENV} must be an http(s):// or ws(s):// URL, got {base!r}")
    return urllib.parse.urlunsplit(
        (scheme, parts.netloc, parts.path.rstrip("/") + RPC_PATH, "", "")
    )


def _now() -> str:
    # dt.UTC and the TimeoutError alias are 3.11+; the agent must run on python3.9 (hence noqa).
    return dt.datetime.now(dt.timezone.utc).isoformat()  # noqa: UP017


class Agent(Scripts):
    """One agent process: scripts run once per process; the connection comes and goes."""

    def __init__(self, url: str, token: str):
        self.url = rpc_url(url)
        # SSH sessions start like scripts do: the agent's environment and directory.
        self._ssh = ssh.Server(url, self.script_env, self.workdir, log)
        # git's ssh signs with the owner's key through this socket (never on disk).
        self._gitssh = gitssh.GitSSHAgent(self._fetch_git_key, self._ssh.prepare, log)
        # git over HTTPS asks GIT_ASKPASS, which asks this socket (external auth tokens).
        self._extauth = gitaskpass.Server(self._fetch_external_auth, log)
        self._git_requests: dict = {}  # request id -> Future of the server's answer
        self._git_request_ids = itertools.count(1)
        self._bin_dir = ""  # holds the workspace's `portal` launcher (dotfiles)
        self._token = token
        self.manifest: dict | None = None
        self.connected = False
        self._outbox: collections.deque = collections.deque()
        self._outbox_ready: asyncio.Event | None = None
        self._logs: list = []
        self._logs_pending = 0
        self._logs_dropped = 0
        self._stop: asyncio.Event | None = None
        self._ws = None
        self._procs: set = set()
        # Everything the agent starts carries this in its environment: it is stopped with the
        # agent wherever it went, and only it may serve the workspace's unix-socket apps.
        self.instance = secrets.token_hex(16)
        self._groups = ScriptGroups(f"{apps.INSTANCE_ENV}={self.instance}".encode())
        self._apps = apps.Apps(self.instance, lambda: self._groups.ids, lambda: self.manifest)
        self._directories = watchdog.Directories()
        self._ptys = pty.Sessions()  # web terminals, kept across their streams by reconnect id
        self._ports = listening.Watcher(lambda message: self.send(message), log)
        self._tasks: set = set()  # background work cancelled at shutdown
        self._running_cron: set = set()
        self._closing = False
        self._reached = False  # whether the current connection got a manifest (resets backoff)

    # -- outbound messages -------------------------------------------------------------------

    def send(self, message: dict) -> None:
        """Queue a message for the server; it survives reconnects."""
        self._outbox.append(message)
        self._outbox_ready.set()

    def add_log(self, source: str, level: str, output: str) -> None:
        if self._logs_pending >= LOG_BACKLOG_MAX:
            self._logs_dropped += 1
            return
        self._logs.append(
            {"created_at": _now(), "source": source, "level": level, "output": output}
        )
        self._logs_pending += 1

    def flush_logs(self) -> None:
        if self._logs_dropped:
            self._logs.append(
                {
                    "created_at": _now(),
                    "source": "agent",
                    "level": "error",
                    "output": f"{self._logs_dropped} log lines dropped while disconnected",
                }
            )
            self._logs_dropped = 0
        while self._logs:
            batch, self._logs = self._logs[:LOG_BATCH_MAX], self._logs[LOG_BATCH_MAX:]
            self.send({"type": "logs", "logs": batch})

    def lifecycle(self, state: str, reason: str = "", directory: str = "") -> None:
        # Logs first, so a state never overtakes the output that led to it.
        self.flush_logs()
        message = {"type": "lifecycle", "state": state}
        if reason:
            message["reason"] = reason
        if directory:
            message["directory"] = directory
        log(f"lifecycle {state}" + (f": {reason}" if reason else ""))
        self.send(message)

    async def _log_flusher(self) -> None:
        while True:
            await asyncio.sleep(LOG_FLUSH_INTERVAL)
            self.flush_logs()

    # -- entry point -------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._outbox_ready = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        flusher = asyncio.ensure_future(self._log_flusher())
        connection = asyncio.ensure_future(self._connection_loop())
        stopping = asyncio.ensure_future(self._stop.wait())
        removed = asyncio.ensure_future(self._directories.wait_removed())
        try:
            await asyncio.wait({connection, stopping, removed}, return_when=asyncio.FIRST_COMPLETED)
            if removed.done():
                # The workspace is gone: no stop scripts (they would run nowhere), just stop.
                log(f"fatal: {removed.result()}; stopping everything the agent started")
                await self._shutdown(stop_scripts=False)
                await self._drain(connection, wait_for_server=False)
                return 1
            if connection.done():
                return await self._fatal(connection)
            log("stop requested")
            await self._shutdown()
            await self._drain(connection)
            if connection.done() and not connection.cancelled() and connection.exception():
                return await self._fatal(connection)
            return 0
        finally:
            for task in (flusher, connection, stopping, removed, *self._tasks):
                task.cancel()
            self._kill_all(signal.SIGKILL)

    async def _fatal(self, connection: asyncio.Future) -> int:
        """The server refused us or stayed away too long: stop what we started, then exit."""
        log(f"fatal: {connection.exception()}; stopping everything the agent started")
        await self._shutdown()
        return 1

    async def _drain(self, connection: asyncio.Future, wait_for_server: bool = True) -> None:
        """Give the server the last messages (off, stop-script logs), then close politely."""
        if self.manifest is None or connection.done():
            return
        if not (wait_for_server or self.connected):
            return
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while (self._outbox or not self.connected) and time.monotonic() < deadline:
            if connection.done():
                return
            await asyncio.sleep(0.05)
        if self._outbox:
            log(f"exiting with {len(self._outbox)} messages unsent")
        ws = self._ws
        self._closing = True  # the connection loop must not reconnect after this close
        if ws is not None:
            with contextlib.suppress(Exception):  # closing is best effort on the way out
                await asyncio.wait_for(ws.close(1000, "agent stopped"), 3)

    # -- connection --------------------------------------------------------------------------

    async def _connection_loop(self) -> None:
        from websockets.exceptions import ConnectionClosed, InvalidStatus

        backoff = BACKOFF_MIN
        lost_at: float | None = None  # when a working connection was last lost
        patience = watchdog.Patience(f"check {TOKEN_ENV}")
        while True:
            self._reached = False
            refusal = None
            try:
                await self._session()
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == CLOSE_BAD_TOKEN:
                    refusal = exc.rcvd.reason or "code 4401"
                elif not self._closing:
                    log(f"connection closed: {exc}")
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (401, 403):
                    refusal = f"HTTP {status}"
                else:
                    log(f"connection refused by the server: HTTP {status}")
            except (OSError, asyncio.TimeoutError) as exc:  # noqa: UP041 - distinct before 3.11
                log(f"cannot reach {self.url}: {exc or type(exc).__name__}")
            except Exception as exc:  # noqa: BLE001 - any other failure is retried with backoff
                log(f"connection failed: {type(exc).__name__}: {exc}")
            finally:
                self.connected = False
                self._ws = None
            if self._closing:
                return
            if self._reached:
                backoff = BACKOFF_MIN
                lost_at = time.monotonic()
            warning = patience.failed(refusal, reached=self._reached)  # GiveUp when out of it
            if warning:
                log(warning)
            delay = min(BACKOFF_MAX, backoff * random.uniform(0.75, 1.25))  # noqa: S311 - jitter
            failing_over = lost_at is not None and time.monotonic() - lost_at < FAILOVER_WINDOW
            if failing_over and delay > FAILOVER_BACKOFF_MAX:
                # Jittered at the cap too: a dead replica's agents must not return in step.
                delay = FAILOVER_BACKOFF_MAX * random.uniform(0.5, 1.0)  # noqa: S311
            delay = patience.cap(delay)
            log(f"reconnecting in {delay:.1f}s")
            await asyncio.sleep(delay)
            backoff = min(BACKOFF_MAX, backoff * 2)

    async def _session(self) -> None:
        """One connection, until it drops (always by an exception)."""
        from websockets.asyncio.client import connect

        log(f"connecting to {self.url}")
        async with connect(
            self.url,
            additional_headers={"Authorization": f"Bearer {self._token}"},
            user_agent_header=f"portal-agent/{VERSION}",
            open_timeout=15,
            ping_interval=15,
            ping_timeout=15,
            close_timeout=3,
            max_size=16 * 1024 * 1024,
        ) as ws:
            await ws.send(json.dumps(self._hello()))
            manifest = await asyncio.wait_for(self._await_manifest(ws), MANIFEST_TIMEOUT)
            first = self.manifest is None
            self.manifest = manifest
            self._ws = ws
            self.connected = self._reached = True
            log(f"connected as agent {manifest.get('name') or ''} ({manifest.get('agent_id')})")
            if first and not self._stop.is_set():
                self._begin(manifest)
            self._ports.resend()  # this server may not know the current set
            tasks = [
                asyncio.ensure_future(self._sender(ws)),
                asyncio.ensure_future(self._receiver(ws)),
                asyncio.ensure_future(self._pinger(ws)),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
            finally:
                for task in tasks:
                    task.cancel()
            # The receiver ended on a clean close: raise it the same way an error would.
            await ws.recv()

    def _hello(self) -> dict:
        machine = platform.machine().lower()
        return {
            "type": "hello",
            "version": VERSION,
            "os": platform.system().lower(),
            "arch": _ARCH.get(machine, machine),
            "pid": os.getpid(),
        }

    async def _await_manifest(self, ws) -> dict:
        while True:
            message = json.loads(await ws.recv())
            if isinstance(message, dict) and message.get("type") == "manifest":
                return message
            if isinstance(message, dict) and message.get("type") == "open_stream":
                self._open_stream(message)  # a stream asked for before the manifest arrived

    async def _sender(self, ws) -> None:
        while True:
            while self._outbox:
                message = self._outbox[0]
                await ws.send(json.dumps(message))
                self._outbox.popleft()
                if message.get("type") == "logs":
                    self._logs_pending -= len(message["logs"])
            self._outbox_ready.clear()
            await self._outbox_ready.wait()

    async def _receiver(self, ws) -> None:
        async for raw in ws:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            if message.get("type") == "error":
                # The server refused one message (e.g. an invalid lifecycle transition).
                log(f"server error: {message.get('message')} {message.get('detail') or ''}".strip())
            elif message.get("type") == "manifest":
                # A later manifest (e.g. after an update) refreshes what health checks and
                # cron read; scripts that already ran are not run again.
                self.manifest = message
            elif message.get("type") == "open_stream":
                self._open_stream(message)
            elif message.get("type") in ("gitsshkey", "external_auth"):
                waiter = self._git_requests.pop(message.get("id"), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(message)

    async def _fetch_git_key(self) -> tuple:
        """The owner's git key from the server: (public key line, OpenSSH private key text)."""
        request = next(self._git_request_ids)
        waiter = asyncio.get_running_loop().create_future()
        self._git_requests[request] = waiter
        self.send({"type": "gitsshkey", "id": request})
        try:
            answer = await waiter
        finally:
            self._git_requests.pop(request, None)
        if answer.get("error"):
            raise RuntimeError(str(answer["error"]))
        return str(answer["public_key"]), str(answer["private_key"])

    async def _fetch_external_auth(self, request: dict) -> dict:
        """The server's answer about git credentials: {username, password, ...} or {url, ...}."""
        number = next(self._git_request_ids)
        waiter = asyncio.get_running_loop().create_future()
        self._git_requests[number] = waiter
        self.send({"type": "external_auth", "id": number, **request})
        try:
            answer = await waiter
        finally:
            self._git_requests.pop(number, None)
        return {k: v for k, v in answer.items() if k not in ("type", "id")}

    def _open_stream(self, message: dict) -> None:
        """Start one stream in the background: the control loop never waits for it."""
        try:
            stream, kind, port = streams.parse_open(message)
        except ValueError:
            log(f"ignoring open_stream with an invalid stream id: {message.get('stream')!r}")
            return
        url = streams.stream_url(self.url, RPC_PATH, stream)
        self._spawn(self._stream(url, stream, kind, port, message))

    def _pty_session(self, message: dict) -> pty.Session:
        """The terminal session of an open_stream of kind pty: reattached, or a new shell."""
        options = pty.parse_options(message)
        env = self.script_env()
        return self._ptys.get_or_start(options, env, self.workdir(env))

    async def _stream(self, url: str, stream: str, kind: str, port, message: dict) -> None:
        try:
            await streams.run_stream(
                url,
                self._token,
                kind,
                port,
                user_agent=f"portal-agent/{VERSION}",
                pty_session=lambda: self._pty_session(message),
                ssh_server=self._ssh,
                open_app=lambda limit: self._apps.open(str(message.get("app") or ""), limit),
            )
        except Exception as exc:  # noqa: BLE001 - one stream failing never stops the agent
            log(f"stream {stream} ({kind} {port}) failed: {type(exc).__name__}: {exc}")

    async def _prepare_ssh(self) -> None:
        """Fetch SSH's dependencies now, so the first `portal ssh` does not wait for them."""
        try:
            await self._ssh.prepare()
        except Exception as exc:  # noqa: BLE001 - SSH is retried per connection; say why now
            message = f"SSH is not available yet: {exc}"
            log(message)
            self.add_log("agent", "warn", message)

    async def _pinger(self, ws) -> None:
        while True:
            await ws.send(json.dumps({"type": "ping", "t": time.time()}))
            await asyncio.sleep(PING_INTERVAL)

    # -- scripts -----------------------------------------------------------------------------

    def _spawn(self, coro) -> asyncio.Future:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _begin(self, manifest: dict) -> None:
        if not self._bin_dir:
            try:
                self._bin_dir = workspace_cli.write_launcher()
            except OSError as exc:
                self.add_log("agent", "warn", f"the portal command is unavailable: {exc}")
        if not self._gitssh.path:
            try:
                self._gitssh.bind()
                self._spawn(self._gitssh.serve())
            except OSError as exc:
                self.add_log("agent", "warn", f"git SSH key socket unavailable: {exc}")
        if not self._extauth.path:
            try:
                self._extauth.bind()
                self._spawn(self._extauth.serve())
            except OSError as exc:
                self.add_log("agent", "warn", f"git credential socket unavailable: {exc}")
        self._spawn(self._startup(manifest))
        self._spawn(self._cron_loop())
        self._spawn(self._prepare_ssh())
        self._spawn(self._ports.run())
        for app in manifest.get("apps") or []:
            if app.get("healthcheck_url") and (app.get("healthcheck_interval") or 0) > 0:
                self._spawn(health.watch(app, self.send, log, self._apps.probe))

    def script_env(self) -> dict:
        manifest = self.manifest or {}
        env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}  # scripts never see the token
        for key, field in (
            ("PORTAL_WORKSPACE_NAME", "workspace_name"),
            ("PORTAL_WORKSPACE_ID", "workspace_id"),
            ("PORTAL_WORKSPACE_OWNER_NAME", "owner_name"),
            ("PORTAL_WORKSPACE_AGENT_NAME", "name"),
        ):
            if manifest.get(field):
                env[key] = str(manifest[field])
        if self._bin_dir:  # last: a portal CLI installed in the image comes first
            env["PATH"] = os.pathsep.join(p for p in (env.get("PATH"), self._bin_dir) if p)
        if self._gitssh.path:  # before the template's env: a template may set its own
            env[gitssh.SOCKET_ENV] = self._gitssh.path
            env["GIT_SSH_COMMAND"] = f"ssh -o IdentityAgent={shlex.quote(self._gitssh.path)}"
        if self._extauth.path and self._bin_dir:
            env[gitaskpass.SOCKET_ENV] = self._extauth.path
            env[gitaskpass.ASKPASS_ENV] = os.path.join(self._bin_dir, workspace_cli.ASKPASS_NAME)
        for key, value in (manifest.get("env") or {}).items():
            env[str(key)] = "" if value is None else str(value)
        env[apps.INSTANCE_ENV] = self.instance  # after the template's: it cannot be overridden
        return env

    def _kill_all(self, sig: int) -> None:
        self._ptys.kill_all(sig)
        for proc in list(self._procs):
            if proc.returncode is None:
                self._kill(proc, sig)
        self._groups.signal_all(sig)

    # -- shutdown ----------------------------------------------------------------------------

    def _remove_bin_dir(self) -> None:
        if self._bin_dir:
            shutil.rmtree(self._bin_dir, ignore_errors=True)

    async def _shutdown(self, stop_scripts: bool = True) -> None:
        # Snapshot first: cancelled script tasks drop their process from self._procs.
        procs = [p for p in self._procs if p.returncode is None]
        for task in list(self._tasks):
            task.cancel()
        self._ptys.kill_all(signal.SIGHUP)
        for proc in procs:
            self._kill(proc, signal.SIGTERM)
        deadline = time.monotonic() + KILL_GRACE
        while any(p.returncode is None for p in procs) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for proc in procs:
            if proc.returncode is None:
                self._kill(proc, signal.SIGKILL)
        if self.manifest is None:
            self._gitssh.close()
            self._extauth.close()
            self._remove_bin_dir()
            return
        self.lifecycle("shutting_down")
        stops = [
            self._spawn(self.run_script(self._source(s), s["script"], s.get("timeout") or 0))
            for s in (self._scripts() if stop_scripts else [])
            if s.get("run_on_stop") and (s.get("script") or "").strip()
        ]
        if stops:
            await asyncio.gather(*stops, return_exceptions=True)
        await self._groups.stop(signal.SIGTERM, signal.SIGKILL, KILL_GRACE)
        self._gitssh.close()  # after the stop scripts: they may push with git
        self._extauth.close()
        self._remove_bin_dir()
        self.lifecycle("off")
