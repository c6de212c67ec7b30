"""Benchmark the scheduler's pass over 10,000 workspaces: database time per pass.

Seeds (bulk inserts) 10,000 running or stopped workspaces of 100 owners with 3 builds each
(older start builds keep their old deadlines, as in a real deployment), half with an autostart
schedule; then times passes of workspaces/schedule_pass.run_pass: one with nothing due, and
one with --due workspaces past their deadline and --due whose autostart time came (each queues a
build through workspaces.services, audited). With the template's cleanup rules on (failure TTL
24 h, dormant after 30 days, deleted 7 days later; --no-cleanup turns them off) the mix also
has every workspace used within the last 20 days except --due running ones unused for 30 days
(marked dormant and stopped), --due dormant ones whose deletion time came (deleted), --due
whose start failed a day ago (stopped) and 1,000 dormant ones not due yet. Database time is the
sum of every statement's time as the client sees it (connection.execute_wrapper). Builds are not
sent to a broker.
Runs in a sandbox of its own (bench/harness.py: a uniquely named database dropped at the end, a
private Redis, a temporary data directory); nothing else is touched.

    .venv/bin/python bench/scheduler.py [--workspaces 10000] [--due 100] [--no-cleanup]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Sandbox, report  # noqa: E402


class DbTimer:
    """Sums the time of every statement run on this connection while installed."""

    def __init__(self):
        self.seconds = 0.0
        self.queries = 0
        self.slowest: dict[str, list] = {}

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took = time.perf_counter() - started
            self.seconds += took
            self.queries += 1
            row = self.slowest.setdefault(sql[:90], [0, 0.0])
            row[0] += 1
            row[1] += took

    def top(self, n: int = 5) -> str:
        rows = sorted(self.slowest.items(), key=lambda kv: -kv[1][1])[:n]
        return "\n".join(f"    {t * 1000:8.1f} ms {c:5d}x {sql}" for sql, (c, t) in rows)


def seed(n: int, due: int, now, cleanup: bool = True):
    """n workspaces (3 builds each); `due` running past their deadline, `due` stopped whose
    autostart came; the others running with a deadline ahead or stopped, half scheduled."""
    from portal.accounts.models import User
    from portal.accounts.services import system_actor
    from templates_app.models import File, Template, TemplateVersion
    from workspaces.choices import JobStatus, JobType
    from workspaces.models import ProvisionerJob, Workspace, WorkspaceBuild

    system = system_actor()
    owners = User.objects.bulk_create(
        User(username=f"dev{i}", email=f"dev{i}@example.com", name=f"Dev {i}") for i in range(100)
    )
    file = File.objects.create(
        hash="0" * 64, mimetype="application/gzip", size=1, data=b"x", created_by=system
    )
    template = Template.objects.create(name="bench", created_by=system)
    version = TemplateVersion.objects.create(
        template=template, name="v1", file=file, import_status="succeeded", created_by=system
    )
    template.active_version = version
    template.save(update_fields=["active_version"])
    from portal import hooks

    for handler in hooks.template_created.handlers():  # e.g. the template ACL's Everyone: use
        handler(template, actor=system, options={})
    workspaces, jobs, builds = [], [], []
    latest = {}
    for i in range(n):
        ws = Workspace(
            id=uuid.uuid4(),
            owner=owners[i % len(owners)],
            template=template,
            name=f"ws{i}",
            ttl_seconds=8 * 3600,
        )
        running = i % 2 == 0
        if i % 4 in (0, 1):
            ws.autostart_schedule = "CRON_TZ=Europe/Berlin 0 9 * * 1-5"
            ws.next_autostart_at = now + timedelta(hours=12)
        workspaces.append(ws)
        for number in (1, 2, 3):
            transition = "start" if number != 3 or running else "stop"
            job = ProvisionerJob(
                id=uuid.uuid4(),
                type=JobType.WORKSPACE_BUILD,
                status=JobStatus.SUCCEEDED,
                initiator=system,
            )
            old = now - timedelta(days=10 - number)
            build = WorkspaceBuild(
                id=uuid.uuid4(),
                workspace=ws,
                template_version=version,
                build_number=number,
                transition=transition,
                initiator=system,
                job=job,
                deadline=old + timedelta(hours=8) if transition == "start" else None,
            )
            jobs.append(job)
            builds.append(build)
            latest[ws.id] = build
        last = latest[ws.id]
        if running:
            last.deadline = now + timedelta(hours=4)
    # The due ones: the first `due` running ones past their deadline, `due` stopped ones
    # whose autostart came.
    running_ones = [w for i, w in enumerate(workspaces) if i % 2 == 0]
    stopped_ones = [w for i, w in enumerate(workspaces) if i % 2 == 1]
    for ws in running_ones[:due]:
        latest[ws.id].deadline = now - timedelta(seconds=20)
    for ws in stopped_ones[:due]:
        ws.autostart_schedule = "CRON_TZ=UTC */15 * * * *"
        ws.next_autostart_at = now - timedelta(seconds=20)
    if cleanup:
        template.failure_ttl_seconds = 24 * 3600
        template.time_til_dormant_seconds = 30 * 86400
        template.time_til_dormant_autodelete_seconds = 7 * 86400
        template.save()
        for i, ws in enumerate(workspaces):  # used within the last 20 days
            ws.last_used_at = now - timedelta(minutes=(i * 37) % (20 * 24 * 60))
        # Due at `now` but not 5 minutes earlier (the idle pass).
        for ws in running_ones[due : 2 * due]:
            ws.last_used_at = now - timedelta(days=30, minutes=2)
        for ws in stopped_ones[due : 2 * due]:
            ws.dormant_at = now - timedelta(days=7)
            ws.deleting_at = now - timedelta(seconds=20)
        for ws in stopped_ones[2 * due : 3 * due]:
            last = latest[ws.id]
            last.transition = "start"
            last.job.status = JobStatus.FAILED
            last.job.completed_at = now - timedelta(hours=24, minutes=2)
        for ws in stopped_ones[3 * due : 3 * due + 1000]:
            ws.dormant_at = now - timedelta(days=1)
            ws.deleting_at = now + timedelta(days=6)
            ws.delete_warn_at = now + timedelta(days=5)
    Workspace.objects.bulk_create(workspaces, batch_size=2000)
    ProvisionerJob.objects.bulk_create(jobs, batch_size=2000)
    WorkspaceBuild.objects.bulk_create(builds, batch_size=2000)
    for ws in workspaces:
        ws.latest_build = latest[ws.id]
    Workspace.objects.bulk_update(workspaces, ["latest_build"], batch_size=2000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return workspaces


def timed_pass(now):
    from django.db import connection

    from workspaces import schedule_pass

    timer = DbTimer()
    started = time.perf_counter()
    with connection.execute_wrapper(timer):
        result = schedule_pass.run_pass(now=now)
    return result, time.perf_counter() - started, timer


def explain_finders(now) -> str:
    """The server's own execution time of each finding query (EXPLAIN ANALYZE), load aside."""
    from django.db import connection

    from templates_app.models import Template
    from workspaces import schedule_cleanup, schedule_pass

    template = Template.objects.get(name="bench")
    queries = {
        "due stops": schedule_pass.due_stops(now),
        "due starts": schedule_pass.due_starts(now),
        "failed starts": schedule_cleanup.due_failed_starts_query(
            template.pk, now - timedelta(hours=24), now
        ),
        "dormancy": schedule_cleanup.due_dormant_query(template.pk, now - timedelta(days=30), now),
        "auto-delete": schedule_cleanup.due_deletes_query(now),
    }
    lines = []
    for label, qs in queries.items():
        sql, params = qs.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN ANALYZE " + sql, params)
            plan = [row[0] for row in cursor.fetchall()]
        took = next(line for line in plan if line.startswith("Execution Time"))
        # "Execution Time: 0.941 ms": the server's own time, without the load on this client
        report("scheduler", f"finder {label} (EXPLAIN ANALYZE)", float(took.split()[2]), "ms")
        words = [line.split() for line in plan]
        index = sorted({w[w.index("using") + 1] for w in words if "using" in w})
        seq = sorted({w[w.index("on") + 1] for w in words if "Seq" in w and "on" in w})
        lines.append(
            f"    {label:14s} {took.split(': ')[1]:>12s}  indexes: {', '.join(index) or '-'}"
            f"{'; seq scans: ' + ', '.join(seq) if seq else ''}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspaces", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--no-cleanup", action="store_true", help="template cleanup rules off")
    args = parser.parse_args()
    with Sandbox("scheduler") as sandbox:
        sandbox.setup_django()
        from django.utils import timezone

        from workspaces.builds import dispatch

        dispatch.enqueue = lambda job: None  # no broker: the pass's cost is what we time
        now = timezone.now()
        t0 = time.perf_counter()
        seed(args.workspaces, args.due, now, cleanup=not args.no_cleanup)
        print(f"seeded {args.workspaces} workspaces in {time.perf_counter() - t0:.1f} s")
        print("finding queries (EXPLAIN ANALYZE, at the due pass's time):")
        print(explain_finders(now))
        result, wall, timer = timed_pass(now - timedelta(minutes=5))
        print(
            f"idle pass (nothing due): db {timer.seconds * 1000:.1f} ms in "
            f"{timer.queries} statements, wall {wall * 1000:.1f} ms"
        )
        report("scheduler", "idle pass db time", round(timer.seconds * 1000, 1), "ms")
        report("scheduler", "idle pass statements", timer.queries, "statements")
        report("scheduler", "idle pass wall time", round(wall * 1000, 1), "ms")
        result, wall, timer = timed_pass(now)
        builds = (
            len(result.stopped)
            + len(result.started)
            + len(result.failed_stopped)
            + len(result.deleted)
            + len(result.dormant)  # each a stop (running ones)
        )
        print(
            f"pass with {len(result.stopped)} autostops + {len(result.started)} autostarts: "
            f"db {timer.seconds * 1000:.1f} ms in {timer.queries} statements "
            f"({timer.seconds * 1000 / max(1, builds):.2f} ms per build of {builds}), "
            f"wall {wall * 1000:.1f} ms"
        )
        report("scheduler", "due pass db time", round(timer.seconds * 1000, 1), "ms")
        report("scheduler", "due pass statements", timer.queries, "statements")
        report("scheduler", "due pass builds", builds, "builds")
        report(
            "scheduler",
            "due pass db time per build",
            round(timer.seconds * 1000 / max(1, builds), 2),
            "ms",
        )
        report("scheduler", "due pass wall time", round(wall * 1000, 1), "ms")
        print(
            f"  cleanup in that pass: {len(result.dormant)} marked dormant (running ones "
            f"stopped), {len(result.deleted)} dormant deleted, {len(result.failed_stopped)} "
            f"failed starts stopped"
        )
        if os.environ.get("BENCH_VERBOSE"):
            print(timer.top(8))
        result, wall, timer = timed_pass(now + timedelta(seconds=30))
        print(
            f"next pass (the due ones are building): db {timer.seconds * 1000:.1f} ms, "
            f"{len(result.stopped)} stops, {len(result.started)} starts"
        )
        report("scheduler", "next pass db time", round(timer.seconds * 1000, 1), "ms")


if __name__ == "__main__":
    main()
