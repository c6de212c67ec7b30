"""Benchmark the hot API endpoints as deployed: prints latency percentiles, req/s and idle RSS.

Seeds 2,000 users and 10,000 workspaces (each with a build and a job) into its own database,
starts `portal server` as production would (external PostgreSQL and Redis, DEBUG off, several
ASGI worker processes, no embedded worker), then drives it with wrk (Debian package; a Python
client is used when wrk is missing) for --duration seconds per endpoint.

    .venv/bin/python bench/api_list.py [--duration 30] [--connections 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
DB_URL = os.environ.get(
    "PORTAL_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/portal_bench"
)
REDIS_URL = os.environ.get("PORTAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %d %d %.3f %.3f %.3f %d\\n", summary.requests,
    summary.duration, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, errors))
end
"""


def server_env(data_dir: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        PORTAL_DATABASE_URL=DB_URL,
        PORTAL_REDIS_URL=REDIS_URL,
        PORTAL_DATA_DIR=data_dir,
        PORTAL_HTTP_ADDRESS=f"127.0.0.1:{port}",
        PORTAL_SECRET_KEY="bench-secret-key-bench-secret-key-bench-secret-key",
        PORTAL_DEBUG="false",
        PORTAL_LOG_LEVEL="WARNING",
        PORTAL_FIRST_USER_USERNAME="owner",
        PORTAL_FIRST_USER_PASSWORD="bench-owner-password-1",
    )
    return env


def recreate_database() -> None:
    import psycopg

    admin = DB_URL.rsplit("/", 1)[0] + "/postgres"
    name = DB_URL.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def seed(env: dict[str, str], users: int, workspaces: int) -> str:
    """Create the data set; returns a token of a member who owns a few workspaces."""
    subprocess.run(
        [sys.executable, "-m", "portal", "manage", "migrate", "--noinput", "-v", "0"],
        env=env, check=True,
    )  # fmt: skip
    code = SEED_CODE.format(users=users, workspaces=workspaces)
    out = subprocess.run(
        [sys.executable, "-m", "portal", "manage", "shell", "-c", code],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


SEED_CODE = """
import itertools
from django.utils import timezone
from portal.accounts import services
from portal.accounts.models import User
from templates_app.models import File, Template, TemplateVersion
from workspaces.models import ProvisionerJob, Workspace, WorkspaceBuild

system = services.system_actor()
users = User.objects.bulk_create(
    [User(username=f"user{{i}}", email=f"user{{i}}@example.com", roles=["member"],
          password="!") for i in range({users})], batch_size=1000)
f = File.objects.create(hash="0" * 64, mimetype="application/x-tar", size=1, data=b"x",
                        created_by=system)
templates = []
for i in range(5):
    t = Template.objects.create(name=f"tpl{{i}}", display_name=f"Template {{i}}", created_by=system)
    v = TemplateVersion.objects.create(template=t, name="v1", file=f, created_by=system)
    t.active_version = v
    t.save(update_fields=["active_version"])
    templates.append((t, v))
owners = itertools.cycle(users)
for start in range(0, {workspaces}, 1000):
    n = min(1000, {workspaces} - start)
    ws, jobs, builds = [], [], []
    for i in range(start, start + n):
        t, v = templates[i % 5]
        w = Workspace(owner=next(owners), template=t, name=f"ws{{i}}")
        j = ProvisionerJob(type="workspace_build", status="succeeded", initiator=system,
                           started_at=timezone.now(), completed_at=timezone.now())
        ws.append(w); jobs.append(j)
        builds.append(WorkspaceBuild(workspace=w, template_version=v, build_number=1,
                                     transition="start", initiator=system, job=j, daily_cost=3))
    Workspace.objects.bulk_create(ws)
    ProvisionerJob.objects.bulk_create(jobs)
    WorkspaceBuild.objects.bulk_create(builds)
    for w, b in zip(ws, builds):
        w.latest_build = b
    Workspace.objects.bulk_update(ws, ["latest_build"])
member = users[0]
token, secret = services.create_token(member, actor=member, name="bench")
print(secret)
"""


def wait_ready(port: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("server did not become ready")


def tree_rss_mb(pid: int) -> tuple[float, int]:
    proc = psutil.Process(pid)
    procs = [proc, *proc.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs) / 2**20, len(procs)


def run_wrk(url: str, token: str, duration: int, connections: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT)
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration}s", "--latency",
         "-s", f.name, "-H", f"Authorization: Bearer {token}", url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT"))
    requests, micros, p50, p95, p99, errors = line.split()[1:]
    return {
        "requests": int(requests),
        "rps": int(requests) / (int(micros) / 1e6),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "errors": int(errors),
    }


async def _python_load(url: str, token: str, duration: int, connections: int) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + duration
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:

        async def one():
            nonlocal errors
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                r = await client.get(url)
                latencies.append((time.perf_counter() - t0) * 1000)
                errors += r.status_code != 200

        t0 = time.monotonic()
        await asyncio.gather(*(one() for _ in range(connections)))
        elapsed = time.monotonic() - t0
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": q[49],
        "p95": q[94],
        "p99": q[98],
        "errors": errors,
    }


def load(url: str, token: str, duration: int, connections: int) -> dict:
    if shutil.which("wrk"):
        return run_wrk(url, token, duration, connections)
    print("  (wrk not found: `apt-get install wrk` for a lighter client; using httpx)")
    return asyncio.run(_python_load(url, token, duration, connections))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--workspaces", type=int, default=10000)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--reuse", action="store_true", help="keep the seeded database")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="portal-bench-")
    env = server_env(data_dir, args.port)
    token_file = Path(data_dir).parent / "portal-bench-token"
    if args.reuse and token_file.exists():
        token = token_file.read_text().strip()
    else:
        print(f"seeding {args.users} users and {args.workspaces} workspaces ...")
        t0 = time.monotonic()
        recreate_database()
        token = seed(env, args.users, args.workspaces)
        token_file.write_text(token)
        print(f"  seeded in {time.monotonic() - t0:.1f}s")

    server = subprocess.Popen(
        [sys.executable, "-m", "portal", "server", "--no-embedded-worker",
         "--workers", str(args.workers)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_ready(args.port)
        base = f"http://127.0.0.1:{args.port}/api/v2"
        for path in ("/users/me", "/workspaces?owner=me&limit=25"):  # warm every worker
            load(base + path, token, 2, args.connections)
        time.sleep(2)
        rss, nprocs = tree_rss_mb(server.pid)
        print(f"idle server RSS: {rss:.0f} MB in {nprocs} processes "
              f"(supervisor + {args.workers} ASGI workers)")  # fmt: skip
        print(f"{'endpoint':44} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} errors")
        for path in ("/workspaces?owner=me&limit=25", "/users/me"):
            r = load(base + path, token, args.duration, args.connections)
            print(
                f"GET /api/v2{path:33} {r['rps']:8.0f} {r['p50']:8.1f} {r['p95']:8.1f} "
                f"{r['p99']:8.1f} {r['errors']}"
            )
        print(f"({args.connections} connections, {args.duration}s each, {os.cpu_count()} cores, "
              "client on the same machine)")  # fmt: skip
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
