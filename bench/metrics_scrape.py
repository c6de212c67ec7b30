"""Scrape time of /metrics with 10,000 connected agents: p50/p95 over many scrapes.

Usage: .venv/bin/python bench/metrics_scrape.py [--agents 10000] [--scrapes 200] [--workers 2]
       [--reuse-db]

Creates N workspaces with one agent each in its own database (portal_bench_metrics, recreated
unless --reuse-db finds N agents there: the rows of bench/idle_agents.py), marks every agent
connected, adds pending jobs under several tag sets and online provisioners, then starts a real
`portal server` (no embedded worker) with --workers web processes and PORTAL_PROMETHEUS_ADDRESS
on a free port. It sends traffic over a few routes (so the HTTP histograms of every process have
series to merge), then scrapes the Prometheus address --scrapes times, one after another, and
prints p50/p95/max of the scrape time, the exposition's size and its series count. The server
is stopped by its pid; the database is left for --reuse-db.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DB_NAME = "portal_bench_metrics"
DB_SERVER = os.environ.get("PORTAL_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432")
DB_URL = f"{DB_SERVER.rstrip('/')}/{DB_NAME}"
REDIS_URL = os.environ.get("PORTAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
TAG_SETS = [{}, {"zone": "eu"}, {"zone": "us"}, {"gpu": "yes"}, {"zone": "eu", "gpu": "yes"}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(data_dir: Path, http: int, metrics: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return {
        **env,
        "PORTAL_DATABASE_URL": DB_URL,
        "PORTAL_REDIS_URL": REDIS_URL,
        "PORTAL_DATA_DIR": str(data_dir),
        "PORTAL_SECRET_KEY": "bench-metrics-secret-key-not-for-production-0123456789",
        "PORTAL_STARTER_TEMPLATE": "false",
        "PORTAL_EMBEDDED_WORKER": "false",
        "PORTAL_HTTP_ADDRESS": f"127.0.0.1:{http}",
        "PORTAL_PROMETHEUS_ADDRESS": f"127.0.0.1:{metrics}",
        # The rows' last_seen_at stays "recent" for the whole run: all N count as connected.
        "PORTAL_AGENT_INACTIVE_SECONDS": "86400",
        "PORTAL_LOG_LEVEL": "WARNING",
    }


def agent_count() -> int | None:
    probe = subprocess.run(
        ["psql", DB_URL, "-tAc", "SELECT count(*) FROM workspaces_workspaceagent"],
        capture_output=True,
        text=True,
    )
    return int(probe.stdout.strip()) if probe.returncode == 0 else None


def setup_database(n: int, reuse: bool) -> None:
    import django

    have = agent_count() if reuse else None
    fresh = have is None or have < n
    if fresh:
        for sql in (f"DROP DATABASE IF EXISTS {DB_NAME}", f"CREATE DATABASE {DB_NAME}"):
            subprocess.run(["psql", DB_SERVER + "/postgres", "-qc", sql], check=True)
    os.environ.update(
        PORTAL_DATABASE_URL=DB_URL,
        PORTAL_REDIS_URL=REDIS_URL,
        DJANGO_SETTINGS_MODULE="portal.settings",
    )
    os.environ.setdefault(
        "PORTAL_SECRET_KEY", "bench-metrics-secret-key-not-for-production-0123456789"
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if fresh:
        began = time.monotonic()
        from bench.idle_agents import create_rows

        create_rows(n)
        print(f"created {n} workspaces with an agent each in {time.monotonic() - began:.0f} s")
    else:
        print(f"reusing {DB_NAME} ({have} agents)")
    mark_state()
    subprocess.run(["psql", DB_URL, "-qc", "ANALYZE"], check=True)


def mark_state() -> None:
    """Every agent connected now; 40 pending jobs per tag set; two provisioners per tag set."""
    from django.utils import timezone

    from portal.accounts.services import system_actor
    from workspaces import models as m

    now = timezone.now()
    m.WorkspaceAgent.objects.update(last_connected_at=now, last_seen_at=now, disconnected_at=None)
    m.ProvisionerJob.objects.filter(status="pending").delete()
    system = system_actor()
    m.ProvisionerJob.objects.bulk_create(
        m.ProvisionerJob(type="workspace_build", status="pending", initiator=system, tags=tags)
        for tags in TAG_SETS
        for _ in range(40)
    )
    m.Provisioner.objects.all().delete()
    m.Provisioner.objects.bulk_create(
        m.Provisioner(id=f"bench-{i}-{k}", tags=tags, last_seen_at=now, started_at=now)
        for i, tags in enumerate(TAG_SETS)
        for k in range(2)
    )


def wait_http(url: str, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse-db", action="store_true")
    args = parser.parse_args()
    setup_database(args.agents, args.reuse_db)

    import logging

    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    logging.getLogger("httpx").setLevel(logging.WARNING)

    http, metrics = free_port(), free_port()
    base, scrape_url = f"http://127.0.0.1:{http}", f"http://127.0.0.1:{metrics}/metrics"
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as data_dir:
        proc = subprocess.Popen(
            [sys.executable, "-m", "portal", "server", "--workers", str(args.workers)],
            cwd=REPO,
            env=server_env(Path(data_dir), http, metrics),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_http(f"{base}/healthz")
            wait_http(scrape_url)
            with httpx.Client(timeout=30) as client:
                for n in range(600):  # series on several routes, statuses and processes
                    client.get(f"{base}/healthz")
                    client.get(f"{base}/api/v2/buildinfo")
                    client.get(f"{base}/api/v2/users/me")  # 401
                    client.get(f"{base}/nothing/{n}")  # 404, unmatched
                client.get(scrape_url)  # warm: connections, the licence snapshot
                times = []
                for _ in range(args.scrapes):
                    started = time.perf_counter()
                    response = client.get(scrape_url)
                    times.append((time.perf_counter() - started) * 1000)
                    response.raise_for_status()
            text = response.text
            series = sum(len(f.samples) for f in text_string_to_metric_families(text))
            agents = next(
                s.value
                for f in text_string_to_metric_families(text)
                for s in f.samples
                if s.name == "portal_agents_connected"
            )
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(
        f"agents connected (as scraped): {agents:.0f}; web processes: {args.workers}; "
        f"exposition: {len(text)} bytes, {series} series"
    )
    print(
        f"scrape time over {len(times)} scrapes: p50 {statistics.median(times):.1f} ms, "
        f"p95 {p95:.1f} ms, max {times[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
