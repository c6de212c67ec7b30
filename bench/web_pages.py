"""Server time of the web portal's heaviest pages: prints p50/p95/p99 and SQL queries per page.

- the workspaces page of a user with 100 workspaces (mixed states, agents on the running ones);
- the workspace page of a workspace whose latest build logged 5,000 lines (target p95 <= 100 ms).

Runs Django in this process against its own PostgreSQL database (recreated each run) and times
the whole request cycle (middleware, session, queries, templates) with the test client, so the
figures are the server's time without the network.

    .venv/bin/python bench/web_pages.py [--requests 200]
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_URL = os.environ.get(
    "PORTAL_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/portal_bench_web"
)
REDIS_URL = os.environ.get("PORTAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
PASSWORD = "bench-password-bench-1"


def recreate_database() -> None:
    import psycopg

    admin = DB_URL.rsplit("/", 1)[0] + "/postgres"
    name = DB_URL.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="portal-bench-web-"))
    atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    (data_dir / "static").mkdir()  # whitenoise's STATIC_ROOT; files come from the app dirs
    os.environ.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        PORTAL_DATABASE_URL=DB_URL,
        PORTAL_REDIS_URL=REDIS_URL,
        PORTAL_DATA_DIR=str(data_dir),
        PORTAL_SECRET_KEY="bench-secret-key-bench-secret-key-bench-secret-key",
        PORTAL_DEBUG="false",
        PORTAL_LOG_LEVEL="WARNING",
        PORTAL_ALLOWED_HOSTS="testserver",
        PORTAL_DATABASE_POOL_SIZE="0",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


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
            WorkspaceApp.objects.create(agent=agent, slug="code", url="http://localhost:1")
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
    recreate_database()
    setup_django()
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
    print(f"server time over {args.requests} requests each (target p95 <= 100 ms)")
    for label, url, expect in pages:
        m = measure(client, url, args.requests, expect)
        print(
            f"{label:40s} p50 {m['p50']:6.1f} ms  p95 {m['p95']:6.1f} ms  "
            f"p99 {m['p99']:6.1f} ms  {m['queries']} queries  {m['bytes'] // 1024} KiB"
        )


if __name__ == "__main__":
    main()
