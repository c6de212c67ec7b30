"""Scrape time of /metrics with 10,000 connected agents: p50/p95 over many scrapes.

Usage: .venv/bin/python bench/metrics_scrape.py [--agents 10000] [--scrapes 200] [--workers 2]

In its own sandbox (bench/harness.py: a database unique to the run, a private Redis, a temp
directory; all removed at the end) it creates N workspaces with one agent each (the rows of
bench/idle_agents.py), marks every agent connected, adds 200 pending jobs over five tag sets and
ten online provisioners, then starts a real `portal server` (no embedded worker) with --workers
web processes and PORTAL_PROMETHEUS_ADDRESS on a free port. It sends traffic over four routes
(so the HTTP histograms of every process have series to merge), then scrapes the Prometheus
address --scrapes times, one after another, and reports p50/p95/max of the scrape time, the
exposition's size and its series count.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.harness import Sandbox, free_port, report  # noqa: E402

BENCH = "metrics_scrape"
TAG_SETS = [{}, {"zone": "eu"}, {"zone": "us"}, {"gpu": "yes"}, {"zone": "eu", "gpu": "yes"}]


def mark_state() -> None:
    """Every agent connected now; 40 pending jobs per tag set; two provisioners per tag set."""
    from django.utils import timezone

    from portal.accounts.services import system_actor
    from workspaces import models as m

    now = timezone.now()
    m.WorkspaceAgent.objects.update(last_connected_at=now, last_seen_at=now, disconnected_at=None)
    system = system_actor()
    m.ProvisionerJob.objects.bulk_create(
        m.ProvisionerJob(type="workspace_build", status="pending", initiator=system, tags=tags)
        for tags in TAG_SETS
        for _ in range(40)
    )
    # Seen "now" with an hour's margin: they stay online for the whole run.
    seen = now + timedelta(hours=1)
    m.Provisioner.objects.bulk_create(
        m.Provisioner(id=f"bench-{i}-{k}", tags=tags, last_seen_at=seen, started_at=now)
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
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)

    with Sandbox(BENCH) as box:
        box.setup_django()
        began = time.monotonic()
        from bench.idle_agents import create_rows

        create_rows(args.agents)
        mark_state()
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # what autovacuum does after such a bulk load
        print(f"created {args.agents} workspaces with an agent each in "
              f"{time.monotonic() - began:.0f} s")  # fmt: skip

        import httpx
        from prometheus_client.parser import text_string_to_metric_families

        http, metrics = free_port(), free_port()
        base, scrape_url = f"http://127.0.0.1:{http}", f"http://127.0.0.1:{metrics}/metrics"
        env = box.env(
            PORTAL_EMBEDDED_WORKER="false",
            PORTAL_HTTP_ADDRESS=f"127.0.0.1:{http}",
            PORTAL_PROMETHEUS_ADDRESS=f"127.0.0.1:{metrics}",
            # The rows' last_seen_at stays "recent" for the whole run: all N count as connected.
            PORTAL_AGENT_INACTIVE_SECONDS="86400",
        )
        server = box.spawn(
            [sys.executable, "-m", "portal", "server", "--workers", str(args.workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
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
        box.stop(server, timeout=60)

    text = response.text
    families = list(text_string_to_metric_families(text))
    series = sum(len(f.samples) for f in families)
    agents = next(
        s.value for f in families for s in f.samples if s.name == "portal_agents_connected"
    )
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(
        f"agents connected (as scraped): {agents:.0f}; web processes: {args.workers}; "
        f"exposition: {len(text)} bytes, {series} series"
    )
    extra = {"agents": int(agents), "series": series, "scrapes": len(times)}
    report(BENCH, "scrape p50", round(statistics.median(times), 1), "ms", **extra)
    report(BENCH, "scrape p95", round(p95, 1), "ms", **extra)
    report(BENCH, "scrape max", round(times[-1], 1), "ms", **extra)


if __name__ == "__main__":
    main()
