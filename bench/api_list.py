"""Benchmark the hot API endpoints as deployed: prints latency percentiles, req/s and idle RSS.

Seeds 2,000 users and 10,000 workspaces (each with a build and a job) into a sandbox of its own
(bench/harness.py: a database dropped at the end, a private Redis, a temporary directory) and
ANALYZEs it (planner statistics, as autovacuum would gather; a server may run without it),
starts `portal server` on a free port as production would (external PostgreSQL and Redis, DEBUG
off, several ASGI worker processes, no embedded worker), then drives it with wrk (Debian package;
a Python client is used when wrk is missing) for --duration seconds per endpoint:
- `GET /users/me` (a member): the cheapest authenticated endpoint, the baseline;
- `GET /workspaces?owner=me&limit=25` (a member);
- `GET /users?limit=25&offset=N` with its total count (an owner; N random over every page).
Each endpoint's req/s is also reported as a share of the baseline's in the same run.

    .venv/bin/python bench/api_list.py [--duration 30] [--connections 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Sandbox, free_port, report, wait_ready  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WRK_SCRIPT = """
local offsets = tonumber(os.getenv("BENCH_OFFSETS") or "0")
request = function()
  local path = wrk.path
  if offsets > 0 then
    path = path .. "&offset=" .. (math.random(0, offsets - 1) * 25)
  end
  return wrk.format(nil, path)
end
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %d %d %.3f %.3f %.3f %d\\n", summary.requests,
    summary.duration, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, errors))
end
"""


def seed(env: dict[str, str], users: int, workspaces: int) -> tuple[str, str]:
    """Create the data set; returns tokens of a member who owns a few workspaces and an owner."""
    subprocess.run(
        [sys.executable, "-m", "portal", "manage", "migrate", "--noinput", "-v", "0"],
        env=env, check=True,
    )  # fmt: skip
    code = SEED_CODE.format(users=users, workspaces=workspaces)
    out = subprocess.run(
        [sys.executable, "-m", "portal", "manage", "shell", "-c", code],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    member, owner = out.stdout.strip().splitlines()[-1].split()
    return member, owner


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
owner = User.objects.create(username="benchowner", email="owner@example.com", roles=["owner"],
                            password="!")
token, owner_secret = services.create_token(owner, actor=owner, name="bench")
# Statistics, as a deployed database's autovacuum gathers them after a bulk load: a server run
# with autovacuum off never would, and its planner would then sort every user for each page.
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")
print(secret, owner_secret)
"""


def tree_rss_mb(pid: int) -> tuple[float, int]:
    proc = psutil.Process(pid)
    procs = [proc, *proc.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs) / 2**20, len(procs)


def run_wrk(url: str, token: str, duration: int, connections: int, offsets: int, tmp: Path) -> dict:
    script = tmp / "report.lua"
    script.write_text(WRK_SCRIPT)
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration}s", "--latency",
         "-s", str(script), "-H", f"Authorization: Bearer {token}", url],
        capture_output=True, text=True, check=True,
        env={**os.environ, "BENCH_OFFSETS": str(offsets)},
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


async def _python_load(url: str, token: str, duration: int, connections: int, offsets: int) -> dict:
    import random

    import httpx

    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + duration
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:

        async def one():
            nonlocal errors
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                page = f"&offset={random.randrange(offsets) * 25}" if offsets else ""
                r = await client.get(url + page)
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


def load(
    url: str, token: str, duration: int, connections: int, tmp: Path, offsets: int = 0
) -> dict:
    if shutil.which("wrk"):
        return run_wrk(url, token, duration, connections, offsets, tmp)
    print("  (wrk not found: `apt-get install wrk` for a lighter client; using httpx)")
    return asyncio.run(_python_load(url, token, duration, connections, offsets))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--workspaces", type=int, default=10000)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with Sandbox("api_list") as sandbox:
        port = free_port()
        env = sandbox.env(
            PORTAL_HTTP_ADDRESS=f"127.0.0.1:{port}",
            PORTAL_FIRST_USER_USERNAME="owner",
            PORTAL_FIRST_USER_PASSWORD="bench-owner-password-1",
        )
        print(f"seeding {args.users} users and {args.workspaces} workspaces ...")
        t0 = time.monotonic()
        token, owner_token = seed(env, args.users, args.workspaces)
        print(f"  seeded in {time.monotonic() - t0:.1f}s")
        server = sandbox.spawn(
            [sys.executable, "-m", "portal", "server", "--no-embedded-worker",
             "--workers", str(args.workers)],
            env=env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_ready(port)
        base = f"http://127.0.0.1:{port}/api/v2"
        pages = max(1, (args.users + 2) // 25)
        endpoints = [  # (label, path, token, random pages)
            ("users/me", "/users/me", token, 0),
            ("workspaces list", "/workspaces?owner=me&limit=25", token, 0),
            ("users list with count", "/users?limit=25", owner_token, pages),
        ]
        for _, path, who, offsets in endpoints:  # warm every worker
            load(base + path, who, 2, args.connections, sandbox.dir, offsets)
        time.sleep(2)
        rss, nprocs = tree_rss_mb(server.pid)
        print(f"idle server RSS: {rss:.0f} MB in {nprocs} processes "
              f"(supervisor + {args.workers} ASGI workers)")  # fmt: skip
        print(f"{args.connections} connections, {args.duration}s each, {os.cpu_count()} cores, "
              "client on the same machine")  # fmt: skip
        baseline = None
        for label, path, who, offsets in endpoints:
            r = load(base + path, who, args.duration, args.connections, sandbox.dir, offsets)
            report("api_list", f"{label} req/s", round(r["rps"]), "req/s")
            report("api_list", f"{label} p50", round(r["p50"], 1), "ms")
            report("api_list", f"{label} p95", round(r["p95"], 1), "ms")
            report("api_list", f"{label} errors", r["errors"], "responses")
            if baseline is None:
                baseline = r["rps"]
            else:
                report(
                    "api_list",
                    f"{label} req/s share of users/me",
                    round(r["rps"] / baseline, 3),
                    "x",
                    baseline="users/me req/s",
                )


if __name__ == "__main__":
    main()
