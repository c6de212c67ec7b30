"""Benchmark activity collection at 10,000 active workspaces: writes per second and DB time.

Seeds 10,000 running workspaces with a TTL (bench/scheduler.py's seed), then: the cost of
`saw()` (what the relay and the app proxy call per request), and flushes of the collector
(workspaces/schedule_activity.py) with every workspace seen: one statement per flush updating
last_used_at and bumping the deadlines. Writes per second follow from the flush period
(FLUSH_SECONDS per process). Runs in a sandbox of its own (bench/harness.py: a uniquely named
database dropped at the end, a private Redis, a temporary data directory); nothing else is
touched.

    .venv/bin/python bench/activity.py [--workspaces 10000] [--flushes 5]
        [--without-dormancy-index]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

import scheduler  # bench/scheduler.py: the seed and the statement timer
from harness import Sandbox, report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspaces", type=int, default=10_000)
    parser.add_argument("--flushes", type=int, default=5)
    parser.add_argument(
        "--without-dormancy-index",
        action="store_true",
        help="drop workspace_dormancy_due first: what the dormancy index costs the flushes",
    )
    args = parser.parse_args()
    with Sandbox("activity") as sandbox:
        sandbox.setup_django()
        from django.db import connection
        from django.utils import timezone

        from workspaces import schedule_activity
        from workspaces.models import Workspace, WorkspaceBuild

        now = timezone.now()
        workspaces = scheduler.seed(args.workspaces, 0, now)
        if args.without_dormancy_index:
            with connection.cursor() as cursor:
                cursor.execute("DROP INDEX workspace_dormancy_due")
        ids = [w.id for w in workspaces]
        collector = schedule_activity.ActivityCollector()
        collector._ensure_thread = lambda: None  # flushed here, by hand, and timed

        started = time.perf_counter()
        for _ in range(10):
            for workspace_id in ids:
                collector.saw(workspace_id)
        per_call = (time.perf_counter() - started) / (10 * len(ids))
        print(f"saw(): {per_call * 1e6:.2f} µs per call (relay/app proxy side, no I/O)")
        report("activity", "saw() per call", round(per_call * 1e6, 2), "µs")

        times = []
        for i in range(args.flushes):
            at = now + timedelta(hours=3, minutes=30 + i)  # bumps the 4 h deadlines
            for workspace_id in ids:
                collector.saw(workspace_id, at=at)
            timer = scheduler.DbTimer()
            with connection.execute_wrapper(timer):
                covered = collector.flush()
            times.append(timer.seconds)
            assert covered == len(ids)
        bumped = WorkspaceBuild.objects.filter(deadline__gt=now + timedelta(hours=4)).count()
        used = Workspace.objects.filter(last_used_at__isnull=False).count()
        period = schedule_activity.FLUSH_SECONDS
        statements = -(-len(ids) // schedule_activity.CHUNK)
        print(
            f"flush of {len(ids)} workspaces: {statements} statements, db p50 "
            f"{statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms "
            f"({used} last_used_at set, {bumped} deadlines bumped)"
        )
        print(
            f"per process: {statements} writes every {period:.0f} s = "
            f"{statements / period:.2f} writes/s "
            f"(rows {len(ids) / period:.0f}/s); database busy "
            f"{statistics.median(times) / period * 100:.1f}% of the time at {len(ids)} "
            "active workspaces; last_used_at at most "
            f"{period:.0f} s late"
        )
        report("activity", "flush statements", statements, "statements", workspaces=len(ids))
        report("activity", "flush db time p50", round(statistics.median(times) * 1000), "ms")
        report("activity", "flush db time max", round(max(times) * 1000), "ms")
        report("activity", "writes per process", round(statements / period, 2), "writes/s")
        busy = round(statistics.median(times) / period * 100, 2)
        report("activity", "database busy (median flush / flush period)", busy, "%")


if __name__ == "__main__":
    main()
