"""Server time of the web portal's heaviest pages: prints p50/p95/p99 and SQL queries per page.

- the workspaces page of a user with 100 workspaces (mixed states, agents on the running ones);
- the workspace page of a workspace whose latest build logged 5,000 lines (target p95 <= 100 ms).

Runs Django in this process in a sandbox of its own (bench/harness.py: a uniquely named database
dropped at the end, a private Redis, a temporary data directory) and times
the whole request cycle (middleware, session, queries, templates) with the test client, so the
figures are the server's time without the network.

    .venv/bin/python bench/web_pages.py [--requests 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import Sandbox, report  # noqa: E402

PASSWORD = "bench-password-bench-1"
APP_URL = "http://localhost:1"  # data, not a port: an app's URL the page lists, never reached


def seed() -> tuple[str, str]:
    """A member with 100 workspaces; returns (username, name of the one with the long log)."""
    from django.utils import timezone

    from portal.accounts import services
    from templates_app.models import ImportStatus
    from tests import factories
    from workspaces.choices import BuildTransition, JobStatus
    from workspaces.models import (
        ProvisionerJobLog,
        WorkspaceAgent,
        WorkspaceAgentLog,
        WorkspaceApp,
        WorkspaceResource,
    )

    system = services.system_actor()
    user = services.create_user(
        actor=system, username="bench", email="bench@example.com", password=PASSWORD
    )
    template = factories.TemplateFactory(name="bench")
    template.active_version.import_status = ImportStatus.SUCCEEDED
    template.active_version.save()
    shapes = [
        (BuildTransition.START, JobStatus.SUCCEEDED),
        (BuildTransition.STOP, JobStatus.SUCCEEDED),
        (BuildTransition.START, JobStatus.RUNNING),
        (BuildTransition.START, JobStatus.FAILED),
    ]
    now = timezone.now()
    for n in range(100):
        transition, status = shapes[n % len(shapes)]
        ws = factories.workspace(
            user, template=template, name=f"ws-{n}", transition=transition, job_status=status
        )
        if (transition, status) == shapes[0]:
            resource = WorkspaceResource.objects.create(
                job=ws.latest_build.job,
                transition="start",
                type="docker_container",
                name="box",
                metadata=[{"key": "image", "value": "python:3.11", "sensitive": False}],
            )
            agent = WorkspaceAgent.objects.create(
                resource=resource,
                name="main",
                token_hash=f"{n:064d}",
                last_connected_at=now,
                last_seen_at=now,
                lifecycle_state="ready",
            )
            WorkspaceApp.objects.create(agent=agent, slug="code", url=APP_URL)
            WorkspaceAgentLog.objects.bulk_create(
                WorkspaceAgentLog(agent=agent, output=f"startup line {i}") for i in range(50)
            )
    job = user.workspaces.get(name="ws-0").latest_build.job
    ProvisionerJobLog.objects.bulk_create(
        ProvisionerJobLog(job=job, output=f"module.box: Still creating... [{i}s elapsed]")
        for i in range(5000)
    )
    return user.username, "ws-0"


def measure(client, url: str, requests: int, expect: str) -> dict:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        r = client.get(url)
    assert r.status_code == 200 and expect in r.content.decode(), (url, r.status_code)
    queries = len(ctx.captured_queries)
    for _ in range(10):  # warm up
        client.get(url)
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200
    reset_queries()
    q = statistics.quantiles(times, n=100)
    return {"p50": q[49], "p95": q[94], "p99": q[98], "queries": queries, "bytes": len(r.content)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with Sandbox("web_pages") as sandbox:
        # whitenoise's STATIC_ROOT; files come from the app dirs
        (sandbox.dir / "data" / "static").mkdir(parents=True)
        sandbox.setup_django(PORTAL_ALLOWED_HOSTS="testserver", PORTAL_DATABASE_POOL_SIZE="0")
        run(args.requests)


def run(requests: int) -> None:
    username, long_log = seed()
    from django.test import Client

    client = Client()
    assert client.post("/login", {"login": username, "password": PASSWORD}).status_code == 302
    pages = [
        ("workspaces page, 100 workspaces", "/", "ws-99"),
        (
            "workspace page, 5,000-line build log",
            f"/workspaces/{username}/{long_log}",
            "[4999s elapsed]",
        ),
    ]
    print(f"server time over {requests} requests each (target p95 <= 100 ms)")
    for label, url, expect in pages:
        m = measure(client, url, requests, expect)
        print(
            f"{label:40s} p50 {m['p50']:6.1f} ms  p95 {m['p95']:6.1f} ms  "
            f"p99 {m['p99']:6.1f} ms  {m['queries']} queries  {m['bytes'] // 1024} KiB"
        )
        for p in ("p50", "p95", "p99"):
            report("web_pages", f"{label} {p}", round(m[p], 1), "ms")
        report("web_pages", f"{label} queries", m["queries"], "queries")
        report("web_pages", f"{label} size", m["bytes"] // 1024, "KiB")


if __name__ == "__main__":
    main()
