"""Build latency of the `local` template on real workers: sequential cycles and 20 at once.

Usage: .venv/bin/python bench/build_latency.py [--cycles 20] [--concurrent 20] [--workers 2]

Uses its own database (portal_bench on PORTAL_BENCH_DATABASE_URL's server, recreated) and Redis
db 13, starts `portal worker` processes, and creates builds through the same services the API
calls. For every build it reports, from the job's row and its log rows:
  pick-up        build requested -> a worker took the job
  terraform      time in Terraform processes and the provider's start-up (runner's timings)
  post           Terraform's last line -> job completed (state, resources, audit)
  total          build requested -> job completed (for a start build: -> running)
  overhead       total - terraform, as a share of total
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DB_SERVER = os.environ.get("PORTAL_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432")
DB_URL = f"{DB_SERVER.rstrip('/')}/portal_bench"
REDIS_URL = os.environ.get("PORTAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
DATA_DIR = Path(tempfile.mkdtemp(prefix="portal-bench-"))


def setup_env() -> None:
    os.environ.update(
        PORTAL_DATABASE_URL=DB_URL,
        PORTAL_REDIS_URL=REDIS_URL,
        PORTAL_DATA_DIR=str(DATA_DIR),
        PORTAL_SECRET_KEY="bench-secret-key-not-for-production-use-0123456789",
        PORTAL_STARTER_TEMPLATE="false",
        PORTAL_DATABASE_POOL_SIZE="16",
        DJANGO_SETTINGS_MODULE="portal.settings",
    )
    subprocess.run(
        ["psql", DB_SERVER + "/postgres", "-qc", "DROP DATABASE IF EXISTS portal_bench"],
        check=True,
    )
    subprocess.run(
        ["psql", DB_SERVER + "/postgres", "-qc", "CREATE DATABASE portal_bench"], check=True
    )
    import redis

    redis.from_url(REDIS_URL).flushdb()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def start_workers(n: int) -> list[subprocess.Popen]:
    procs = []
    for i in range(n):
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "portal",
                    "worker",
                    "--name",
                    f"bench{i}",
                    "--concurrency",
                    "1",
                ],
                cwd=REPO,
                env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    from workspaces.models import Provisioner

    deadline = time.monotonic() + 60
    while Provisioner.objects.filter(id__startswith="bench").count() < n:
        if time.monotonic() > deadline:
            sys.exit("workers did not start")
        time.sleep(0.2)
    return procs


def measure(build_ids) -> tuple[list[dict], int]:
    """Timings of finished builds; and how many did not succeed."""
    from workspaces.choices import LogSource
    from workspaces.models import ProvisionerJobLog, WorkspaceBuild

    rows, failures = [], 0
    for build in WorkspaceBuild.objects.filter(id__in=build_ids).select_related("job"):
        job = build.job
        if job.status != "succeeded":
            failures += 1
            continue
        tf = ProvisionerJobLog.objects.filter(job=job, source=LogSource.PROVISIONER).order_by("id")
        last = tf.last()
        total = (job.completed_at - build.created_at).total_seconds()
        # The runner's own account: Terraform processes (their start-up included) and the
        # provider's start-up, as measured around each step.
        line = ProvisionerJobLog.objects.get(job=job, output__startswith="Timings:").output
        terraform = sum(
            float(m.group(2))
            for m in re.finditer(r"(terraform \w+|provider start) ([\d.]+) s", line)
        )
        rows.append(
            {
                "pick-up": (job.started_at - build.created_at).total_seconds(),
                "terraform": terraform,
                "post": (job.completed_at - last.created_at).total_seconds(),
                "total": total,
                "overhead": (total - terraform) / total,
            }
        )
    return rows, failures


def wait_done(build_ids, timeout: float = 600) -> None:
    from workspaces.choices import JOB_ACTIVE
    from workspaces.models import WorkspaceBuild

    deadline = time.monotonic() + timeout
    while WorkspaceBuild.objects.filter(id__in=build_ids, job__status__in=JOB_ACTIVE).exists():
        if time.monotonic() > deadline:
            sys.exit("builds did not finish in time")
        time.sleep(0.05)


def pct(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def report(title: str, rows: list[dict], failures: int) -> None:
    print(f"\n{title}: {len(rows)} builds, {failures} failures")
    print(f"  {'':<10} {'p50':>9} {'p95':>9}")
    for key in ("pick-up", "terraform", "post", "total"):
        values = [r[key] for r in rows]
        print(f"  {key:<10} {pct(values, 50) * 1000:>7.0f}ms {pct(values, 95) * 1000:>7.0f}ms")
    values = [r["overhead"] for r in rows]
    print(f"  {'overhead':<10} {pct(values, 50) * 100:>8.1f}% {pct(values, 95) * 100:>8.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    setup_env()

    from portal.accounts.services import create_user, system_actor
    from workspaces import services
    from workspaces.management.commands.ensure_starter_template import EXAMPLES, pack

    sys.path.insert(0, str(REPO))
    from tests.provisioning.conftest import make_template

    owner = create_user(
        actor=system_actor(),
        username="bench",
        email="bench@example.com",
        password="bench-password-123456",
        roles=["owner"],
    )
    template = make_template(owner, "local", pack(EXAMPLES / "local"))
    workers = start_workers(args.workers)
    try:
        ws = services.create_workspace(
            actor=owner, owner=owner, template=template, name="seq", parameters={}
        )
        wait_done([ws.latest_build_id])
        starts, stops = [], []
        for _ in range(args.cycles):
            stop = services.create_build(ws, actor=owner, transition="stop")
            wait_done([stop.id])
            stops.append(stop.id)
            start = services.create_build(ws, actor=owner, transition="start")
            wait_done([start.id])
            starts.append(start.id)
        report(f"Sequential start builds ({args.workers} workers)", *measure(starts))
        report(f"Sequential stop builds ({args.workers} workers)", *measure(stops))
        services.create_build(ws, actor=owner, transition="delete")

        began = time.monotonic()
        builds = [
            services.create_workspace(
                actor=owner, owner=owner, template=template, name=f"c{i}", parameters={}
            ).latest_build_id
            for i in range(args.concurrent)
        ]
        wait_done(builds)
        wall = time.monotonic() - began
        report(
            f"{args.concurrent} workspaces created at once ({args.workers} workers)",
            *measure(builds),
        )
        print(f"  all {args.concurrent} running after {wall:.1f} s")
        from workspaces.models import Workspace

        deletes = [
            services.create_build(w, actor=owner, transition="delete").id
            for w in Workspace.objects.filter(name__startswith="c", deleted_at__isnull=True)
        ]
        wait_done(deletes)
        report(f"{args.concurrent} deletes at once", *measure(deletes))
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        for proc in workers:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(DATA_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
