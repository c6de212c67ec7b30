"""Many idle workspace agents on one server process: heartbeat latency and server memory.

Usage: .venv/bin/python bench/idle_agents.py [--agents 10000] [--rate 400] [--seconds 30]
       [--clients 2]

Creates N workspaces with one agent each (known tokens) in a sandbox of its own
(bench/harness.py: a uniquely named database dropped at the end, a private Redis, a temporary
data directory; so the former reuse-db option is gone: nothing outlives a run), starts one uvicorn
process on a free port serving Portal with the settings `portal server` uses, and load-generator
processes that each open their share of the agent control sockets
(/api/v2/workspaceagents/me/rpc) at a controlled rate with a minimal asyncio WebSocket client:
hello -> manifest, then a JSON ping every 5 s (the agent's PING_INTERVAL) and a protocol ping
every 15 s, as `portal agent` does. Once all are connected it measures ping -> pong latency
across the population for --seconds and prints connections established, failures, heartbeat
p50/p95/p99, and the server's RSS before/after. The server and the load generators are stopped
by their process group at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import gc
import hashlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(REPO / "bench"))

from harness import Sandbox, free_port, report, wait_ready  # noqa: E402

RPC_PATH = "/api/v2/workspaceagents/me/rpc"
PING_INTERVAL = 5.0  # portal_agent.agent.PING_INTERVAL
WS_PING_INTERVAL = 15.0  # the agent's websockets keepalive
WORKSPACES_PER_USER = 100
HANDSHAKE_TIMEOUT = 60.0
APP_URL = "http://localhost:8080"  # data, not a port: the agents' app, never reached here


def token_for(i: int) -> str:
    return f"bench-agent-token-{i:06d}"


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# -- setup: rows for N agents --------------------------------------------------------------------


def setup_database(n: int) -> None:
    from django.db import connection

    began = time.monotonic()
    create_rows(n)
    # Planner statistics, as autovacuum would gather them after such a bulk load.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"created {n} workspaces with an agent each in {time.monotonic() - began:.0f} s")


def create_rows(n: int) -> None:
    """Bulk rows shaped like what finished start builds record (tests/agents/helpers.py)."""
    from django.db import transaction

    from portal.accounts.models import User
    from tests import factories
    from workspaces import models as m

    def bulk(model, rows: list) -> list:
        return model.objects.bulk_create(rows, batch_size=1000)

    template = factories.TemplateFactory()
    users = [
        User(username=f"bench{u}", email=f"bench{u}@example.com", roles=["member"], password="!")
        for u in range((n + WORKSPACES_PER_USER - 1) // WORKSPACES_PER_USER)
    ]  # "!": an unusable password
    with transaction.atomic():
        bulk(User, users)
        owners = [users[i // WORKSPACES_PER_USER] for i in range(n)]
        spaces = bulk(
            m.Workspace,
            [m.Workspace(owner=o, template=template, name=f"ws-{i}") for i, o in enumerate(owners)],
        )
        jobs = bulk(
            m.ProvisionerJob,
            [
                m.ProvisionerJob(type="workspace_build", status="succeeded", initiator=o)
                for o in owners
            ],
        )
        builds = bulk(
            m.WorkspaceBuild,
            [
                m.WorkspaceBuild(
                    workspace=ws, template_version=template.active_version, build_number=1,
                    transition="start", initiator=ws.owner, job=job,
                )
                for ws, job in zip(spaces, jobs, strict=True)
            ],
        )  # fmt: skip
        for ws, build in zip(spaces, builds, strict=True):
            ws.latest_build = build
        m.Workspace.objects.bulk_update(spaces, ["latest_build"], batch_size=1000)
        resources = bulk(
            m.WorkspaceResource,
            [
                m.WorkspaceResource(
                    job=job, transition="start", type="terraform_data", name="vm",
                    address="terraform_data.vm",
                )
                for job in jobs
            ],
        )  # fmt: skip
        agents = bulk(
            m.WorkspaceAgent,
            [
                m.WorkspaceAgent(
                    resource=res, name="main", directory="/home/coder", env={"EDITOR": "vim"},
                    token_hash=hashlib.sha256(token_for(i).encode()).hexdigest(),
                    startup_script="echo hello",
                )
                for i, res in enumerate(resources)
            ],
        )  # fmt: skip
        bulk(
            m.WorkspaceApp,
            [
                m.WorkspaceApp(
                    agent=agent, slug="preview", url=APP_URL,
                    healthcheck_url=f"{APP_URL}/healthz", healthcheck_interval=5,
                    healthcheck_threshold=3, health="initializing",
                )
                for agent in agents
            ],
        )  # fmt: skip


# -- the load generator: a minimal WebSocket client per agent -------------------------------------


def _text_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    # Clients must mask; an all-zero key is a valid key and spares masking in Python.
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


HELLO = _text_frame(json.dumps({"type": "hello", "version": "bench", "os": "linux"}).encode())


class Population:
    """What one load-generator process counts."""

    def __init__(self):
        self.failures: collections.Counter = collections.Counter()
        self.dropped: collections.Counter = collections.Counter()
        self.window = (0.0, 0.0)
        self.sent = 0
        self.latencies: list[float] = []
        self.errors = 0
        self.lag: list[float] = []  # this process's own event loop delays, to tell them apart


class AgentSocket(asyncio.Protocol):
    """One agent's control socket: handshake, hello -> manifest, pings; no task of its own."""

    def __init__(self, pop: Population, host: str, token: str):
        self.pop = pop
        self.request = (
            f"GET {RPC_PATH} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
        self.buf = bytearray()
        self.upgraded = False
        self.ready = asyncio.get_running_loop().create_future()
        self.transport = None
        self.timers: list[asyncio.TimerHandle] = []
        self.closing = False

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data):
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buf[: self.buf.find(b"\r\n")]).decode("latin1")
            del self.buf[: end + 4]
            if " 101 " not in status + " ":
                return self._fail(f"handshake: {status[:60]}")
            self.upgraded = True
            self.transport.write(HELLO)
        self._frames()

    def _frames(self):
        buf, pos, size = self.buf, 0, len(self.buf)
        while size - pos >= 2:
            opcode, n, head = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, 2
            if n == 126:
                if size - pos < 4:
                    break
                n, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if size - pos < head + n:
                break
            payload = bytes(buf[pos + head : pos + head + n])
            pos += head + n
            self._frame(opcode, payload)
        del buf[:pos]

    def _frame(self, opcode: int, payload: bytes):
        if opcode == 0x1:
            message = json.loads(payload)
            kind = message.get("type")
            if kind == "pong":
                sent_at = message["t"]
                if self.pop.window[0] <= sent_at < self.pop.window[1]:
                    self.pop.latencies.append(time.perf_counter() - sent_at)
            elif kind == "manifest" and not self.ready.done():
                self.ready.set_result(True)
                self._start_pinging()
            elif kind == "error":
                self.pop.errors += 1
        elif opcode == 0x8:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self._fail(f"closed {code} {payload[2:60].decode(errors='replace')}")
        elif opcode == 0x9:
            self.transport.write(_text_frame(payload, 0xA))

    def _start_pinging(self):
        loop = asyncio.get_running_loop()
        # Agents started at random times: spread their pings over the interval.
        self.timers = [
            loop.call_later(random.uniform(0, PING_INTERVAL), self._ping),
            loop.call_later(random.uniform(0, WS_PING_INTERVAL), self._ws_ping),
        ]

    def _ping(self):
        now = time.perf_counter()
        if self.pop.window[0] <= now < self.pop.window[1]:
            self.pop.sent += 1
        self.transport.write(_text_frame(b'{"type":"ping","t":%r}' % now))
        self.timers[0] = asyncio.get_running_loop().call_later(PING_INTERVAL, self._ping)

    def _ws_ping(self):
        self.transport.write(_text_frame(b"keepalive", 0x9))
        self.timers[1] = asyncio.get_running_loop().call_later(WS_PING_INTERVAL, self._ws_ping)

    def _fail(self, why: str):
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(why))
        elif not self.closing:
            self.pop.dropped[why] += 1
        self.close()

    def connection_lost(self, exc):
        self._fail(f"connection lost ({type(exc).__name__ if exc else 'EOF'})")

    def close(self):
        self.closing = True
        for timer in self.timers:
            timer.cancel()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


async def open_agent(pop: Population, host: str, port: int, token: str) -> AgentSocket | None:
    loop = asyncio.get_running_loop()
    sock = None
    try:
        _, sock = await asyncio.wait_for(
            loop.create_connection(lambda: AgentSocket(pop, f"{host}:{port}", token), host, port),
            HANDSHAKE_TIMEOUT,
        )
        await asyncio.wait_for(asyncio.shield(sock.ready), HANDSHAKE_TIMEOUT)
        return sock
    except (OSError, ConnectionError, TimeoutError) as e:
        pop.failures[str(e)[:80] or type(e).__name__] += 1
        if sock is not None:
            sock.close()
        return None


async def client_main(args) -> None:
    """A load-generator process: opens its agents, reports, measures when told, reports."""
    raise_nofile()
    loop = asyncio.get_running_loop()
    pop = Population()
    indexes = range(args.index, args.agents, args.clients)
    rate = args.rate / args.clients
    inflight = asyncio.Semaphore(max(1, args.inflight // args.clients))
    sockets: list[AgentSocket] = []
    pending = set()

    async def one(i: int):
        try:
            sock = await open_agent(pop, args.host, args.port, token_for(i))
            if sock is not None:
                sockets.append(sock)
        finally:
            inflight.release()

    began = loop.time()
    for k, i in enumerate(indexes):
        await inflight.acquire()
        delay = began + k / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.ensure_future(one(i))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending)
    # This process must not stall the pongs it times: no cyclic GC while measuring.
    gc.collect()
    gc.freeze()
    gc.disable()
    report = {"established": len(sockets), "failures": dict(pop.failures)}
    print(json.dumps(report), flush=True)

    line = await loop.run_in_executor(None, sys.stdin.readline)
    seconds = float(line.split()[1])
    start = time.perf_counter()
    pop.window = (start, start + seconds)
    while time.perf_counter() < start + seconds:
        before = time.perf_counter()
        await asyncio.sleep(0.05)
        pop.lag.append(time.perf_counter() - before - 0.05)
    await asyncio.sleep(2.0)  # pongs of the last pings
    lost = pop.sent - len(pop.latencies)
    still_open = sum(1 for s in sockets if not s.closing)
    print(
        json.dumps(
            {
                "latencies": pop.latencies,
                "sent": pop.sent,
                "lost": lost,
                "errors": pop.errors,
                "dropped": dict(pop.dropped),
                "open": still_open,
                "lag": max(pop.lag, default=0.0),
                "cpu": time.process_time(),
            }
        ),
        flush=True,
    )
    await loop.run_in_executor(None, sys.stdin.readline)
    for sock in sockets:
        sock.close()
    await asyncio.sleep(0.5)


# -- the orchestrator --------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def warm_up(port: int) -> None:
    """One agent connecting and leaving, so 'before' includes what the first connection loads."""

    async def go():
        pop = Population()
        sock = await open_agent(pop, "127.0.0.1", port, token_for(0))
        if sock is None:
            sys.exit(f"the warm-up agent could not connect: {dict(pop.failures)}")
        sock.close()
        await asyncio.sleep(0.5)

    asyncio.run(go())


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=400, help="new connections per second")
    parser.add_argument("--inflight", type=int, default=200, help="handshakes at once")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes")
    parser.add_argument("--profile", metavar="FILE", help="run the server under cProfile")
    parser.add_argument("--role", default="main", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "client":
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        return asyncio.run(client_main(args))

    hard = raise_nofile()
    per_client = -(-args.agents // args.clients)
    if hard < args.agents + 100 or hard < per_client + 100:
        sys.exit(f"RLIMIT_NOFILE hard limit {hard} is too low for {args.agents} sockets")
    with Sandbox("idle_agents") as sandbox:
        run(sandbox, args)


def run(sandbox: Sandbox, args) -> None:
    (sandbox.dir / "data" / "static").mkdir(parents=True)
    sandbox.setup_django()
    setup_database(args.agents)
    env = sandbox.env(DJANGO_SETTINGS_MODULE="portal.settings")
    port = free_port()
    # The flags `portal server` passes uvicorn (portal/processes.py), one worker process.
    server = sandbox.spawn(
        [sys.executable, *(["-m", "cProfile", "-o", args.profile] if args.profile else []),
         "-m", "uvicorn", "portal.asgi:application",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--timeout-graceful-shutdown", "5", "--no-server-header",
         "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
         "--log-level", "warning", "--no-proxy-headers", "--backlog", "4096"],
        env=env,
    )  # fmt: skip
    clients: list[subprocess.Popen] = []
    try:
        wait_ready(port, timeout=60)
        warm_up(port)
        rss_before = rss_mb(server.pid)
        print(f"server pid {server.pid}: RSS {rss_before:.1f} MB before the agents connect")
        began, cpu_ramp = time.monotonic(), cpu_seconds(server.pid)
        for index in range(args.clients):
            clients.append(
                sandbox.spawn(
                    [sys.executable, __file__, "--role", "client", "--index", str(index),
                     "--clients", str(args.clients), "--agents", str(args.agents),
                     "--rate", str(args.rate), "--inflight", str(args.inflight),
                     "--port", str(port)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                )
            )  # fmt: skip
        ready = [json.loads(c.stdout.readline() or "{}") for c in clients]
        ramp = time.monotonic() - began
        cpu_ramp = cpu_seconds(server.pid) - cpu_ramp
        established = sum(r.get("established", 0) for r in ready)
        failures: collections.Counter = collections.Counter()
        for r in ready:
            failures.update(r.get("failures", {}))
        rss_connected = rss_mb(server.pid)
        cpu_before = cpu_seconds(server.pid)
        for c in clients:
            c.stdin.write(f"measure {args.seconds}\n")
            c.stdin.flush()
        results = [json.loads(c.stdout.readline() or "{}") for c in clients]
        cpu = (cpu_seconds(server.pid) - cpu_before) / (args.seconds + 2.0)
        rss_after = rss_mb(server.pid)
        latencies = sorted(x for r in results for x in r.get("latencies", []))
        sent = sum(r.get("sent", 0) for r in results)
        lost = sum(r.get("lost", 0) for r in results)
        still_open = sum(r.get("open", 0) for r in results)
        dropped: collections.Counter = collections.Counter()
        for r in results:
            dropped.update(r.get("dropped", {}))

        print(f"agents                 {args.agents} ({args.clients} load-generator processes)")
        print(f"established            {established} in {ramp:.1f} s (asked {args.rate:.0f}/s)")
        per_connect = cpu_ramp / max(established, 1) * 1000
        print(f"server CPU per connect  {per_connect:.2f} ms (with the pings of those connected)")
        print(f"connect failures       {sum(failures.values())} {dict(failures) or ''}")
        print(f"still open at the end  {still_open}; dropped {dict(dropped) or 0}")
        if latencies:
            ms = [x * 1000 for x in latencies]
            print(
                f"heartbeat ping->pong   {len(ms)} pongs in {args.seconds:.0f} s "
                f"({len(ms) / args.seconds:.0f}/s), {lost} of {sent} pings unanswered"
            )
            print(
                f"  p50 {percentile(ms, 0.50):.2f} ms  p95 {percentile(ms, 0.95):.2f} ms  "
                f"p99 {percentile(ms, 0.99):.2f} ms  max {ms[-1]:.1f} ms  "
                f"mean {statistics.fmean(ms):.2f} ms"
            )
        print(f"server CPU             {cpu:.0%} of a core while measuring")
        lags = ", ".join(f"{r.get('lag', 0) * 1000:.1f}" for r in results)
        cpus = ", ".join(f"{r.get('cpu', 0):.0f}" for r in results)
        print(f"load generators        worst loop lag {lags} ms; CPU {cpus} s in all")
        print(f"machine load average   {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"server RSS before      {rss_before:.1f} MB")
        print(f"server RSS connected   {rss_connected:.1f} MB (all connected)")
        print(f"server RSS after       {rss_after:.1f} MB (after measuring)")
        if established:
            per_k = (rss_after - rss_before) / established * 1000
            print(f"per 1,000 connections  {per_k:.1f} MB")
            report("idle_agents", "server RSS per 1,000 connections", round(per_k, 1), "MB")
        report("idle_agents", "established", established, "connections", asked=args.agents)
        report("idle_agents", "time to establish all", round(ramp, 1), "s", rate=args.rate)
        report("idle_agents", "connect failures", sum(failures.values()), "connections")
        report("idle_agents", "still open at the end", still_open, "connections")
        report("idle_agents", "server CPU per connect", round(per_connect, 2), "ms")
        report("idle_agents", "server CPU while measuring", round(cpu * 100, 1), "% of a core")
        report("idle_agents", "server RSS before", round(rss_before, 1), "MB")
        report("idle_agents", "server RSS connected", round(rss_connected, 1), "MB")
        report("idle_agents", "server RSS after", round(rss_after, 1), "MB")
        if latencies:
            for q in (0.50, 0.95, 0.99):
                value = round(percentile(ms, q), 2)
                report("idle_agents", f"heartbeat p{round(q * 100)}", value, "ms")
            report("idle_agents", "unanswered pings", lost, "pings", sent=sent)
            report("idle_agents", "pongs", round(len(ms) / args.seconds), "/s")
    finally:
        for c in clients:
            try:
                c.stdin.write("quit\n")
                c.stdin.flush()
            except OSError:
                pass
        for c in clients:
            sandbox.stop(c, timeout=30)
        sandbox.stop(server, timeout=30)


if __name__ == "__main__":
    main()
