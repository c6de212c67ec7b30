"""Build latency of the `local` template on real workers: sequential cycles and 20 at once.

Usage: .venv/bin/python bench/build_latency.py [--cycles 20] [--concurrent 20] [--workers 2]
                                              [--modes sandboxed,unsandboxed]

Each mode runs the same builds on its own workers: `sandboxed` as configured by default
(PORTAL_BUILD_SANDBOX=auto), `unsandboxed` with PORTAL_BUILD_SANDBOX=none (accepted by
PORTAL_DANGEROUS_ALLOW_UNSANDBOXED_BUILDS=true), so the sandbox's cost shows in one run.

Runs in a sandbox of its own (bench/harness.py: a uniquely named database dropped at the end, a
private Redis, a temporary data directory where the builds' work directories go), starts `portal
worker` processes (stopped by their process group), and creates builds through the same services
the API calls. For every build it reports, from the job's row and its log rows:
  pick-up        build requested -> a worker took the job
  terraform      time in Terraform processes and the provider's start-up (runner's timings)
  post           Terraform's last line -> job completed (state, resources, audit)
  total          build requested -> job completed (for a start build: -> running)
  overhead       total - terraform, as a share of total
Then, as issue 16 asks, --stops workspaces (default 20) stopped at once on ONE `portal worker`
with its default settings (no --concurrency): the wall time from the first stop requested to
the last one done (target <= 8 s for 20), in the sandboxed mode.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(REPO / "bench"))

from harness import Sandbox, report  # noqa: E402

POOL = {"PORTAL_DATABASE_POOL_SIZE": "16"}


MODES = {
    "sandboxed": {"PORTAL_BUILD_SANDBOX": "auto"},
    "unsandboxed": {
        "PORTAL_BUILD_SANDBOX": "none",
        "PORTAL_DANGEROUS_ALLOW_UNSANDBOXED_BUILDS": "true",
    },
}


def start_workers(
    sandbox: Sandbox, n: int, mode: str, concurrency: int | None = 1
) -> list[subprocess.Popen]:
    from workspaces.models import Provisioner

    Provisioner.objects.filter(id__startswith="bench").delete()
    env = sandbox.env(**POOL, **MODES[mode])
    procs = []
    for i in range(n):
        procs.append(
            sandbox.spawn(
                [
                    sys.executable,
                    "-m",
                    "portal",
                    "worker",
                    "--name",
                    f"bench{i}-{mode}",
                    *(["--concurrency", str(concurrency)] if concurrency else []),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
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


def summarize(title: str, rows: list[dict], failures: int) -> dict:
    print(f"\n{title}: {len(rows)} builds, {failures} failures")
    report("build_latency", f"{title} failures", failures, "builds", builds=len(rows))
    if not rows:
        return {}
    print(f"  {'':<10} {'p50':>9} {'p95':>9}")
    for key in ("pick-up", "terraform", "post", "total"):
        values = [r[key] for r in rows]
        print(f"  {key:<10} {pct(values, 50) * 1000:>7.0f}ms {pct(values, 95) * 1000:>7.0f}ms")
        for q in (50, 95):
            report("build_latency", f"{title} {key} p{q}", round(pct(values, q) * 1000), "ms")
    values = [r["overhead"] for r in rows]
    print(f"  {'overhead':<10} {pct(values, 50) * 100:>8.1f}% {pct(values, 95) * 100:>8.1f}%")
    for q in (50, 95):
        value = round(pct(values, q) * 100, 1)
        report("build_latency", f"{title} overhead p{q}", value, "% of total")
    return {key: pct([r[key] for r in rows], 50) for key in ("terraform", "total")} if rows else {}


def run_mode(sandbox: Sandbox, mode: str, tag: str, args, owner, template) -> dict[str, list]:
    """Sequential then concurrent builds on workers of `mode`; the build ids of each run."""
    from workspaces import services
    from workspaces.models import Workspace

    ids: dict[str, list] = {"start": [], "stop": [], "concurrent": [], "deletes": []}
    workers = start_workers(sandbox, args.workers, mode)
    try:
        ws = services.create_workspace(
            actor=owner, owner=owner, template=template, name=f"seq-{tag}", parameters={}
        )
        wait_done([ws.latest_build_id])
        for _ in range(args.cycles):
            stop = services.create_build(ws, actor=owner, transition="stop")
            wait_done([stop.id])
            ids["stop"].append(stop.id)
            start = services.create_build(ws, actor=owner, transition="start")
            wait_done([start.id])
            ids["start"].append(start.id)
        wait_done([services.create_build(ws, actor=owner, transition="delete").id])
        ids["concurrent"] = [
            services.create_workspace(
                actor=owner, owner=owner, template=template, name=f"c{i}-{tag}", parameters={}
            ).latest_build_id
            for i in range(args.concurrent)
        ]
        wait_done(ids["concurrent"])
        ids["deletes"] = [
            services.create_build(w, actor=owner, transition="delete").id
            for w in Workspace.objects.filter(name__endswith=f"-{tag}", deleted_at__isnull=True)
        ]
        wait_done(ids["deletes"])
    finally:
        for worker in workers:
            sandbox.stop(worker, timeout=30)
    return ids


TITLES = {
    "start": "Sequential start builds",
    "stop": "Sequential stop builds",
    "concurrent": "{n} workspaces created at once",
    "deletes": "{n} deletes at once",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=20, help="stop+start cycles per round")
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--modes", default="sandboxed,unsandboxed")
    parser.add_argument("--stops", type=int, default=20, help="stopped at once (0: skip)")
    parser.add_argument(
        "--stop-concurrency",
        default="default",
        help="worker --concurrency values for the stops, comma-separated ('default': none given)",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="modes alternate, so both meet the same load"
    )
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if unknown := set(modes) - set(MODES):
        sys.exit(f"unknown mode(s) {', '.join(sorted(unknown))}; choose from {', '.join(MODES)}")
    with Sandbox("build_latency") as sandbox:
        sandbox.setup_django(**POOL)
        run(sandbox, args, modes)


def run(sandbox: Sandbox, args, modes: list[str]) -> None:
    from portal.accounts.services import create_user, system_actor
    from tests.provisioning.conftest import make_template
    from workspaces.management.commands.ensure_starter_template import EXAMPLES, pack

    owner = create_user(
        actor=system_actor(),
        username="bench",
        email="bench@example.com",
        password="bench-password-123456",
        roles=["owner"],
    )
    template = make_template(owner, "local", pack(EXAMPLES / "local"))
    if args.stops:
        for value in args.stop_concurrency.split(","):
            concurrency = None if value.strip() == "default" else int(value)
            stops_at_once(sandbox, args.stops, owner, template, concurrency)
    ids = {mode: {kind: [] for kind in TITLES} for mode in modes}
    for round_ in range(args.rounds):
        for mode in modes:
            built = run_mode(sandbox, mode, f"{mode}-{round_}", args, owner, template)
            for kind, build_ids in built.items():
                ids[mode][kind] += build_ids
    p50s: dict[str, dict] = {}
    for mode in modes:
        for kind, title in TITLES.items():
            title = title.format(n=args.concurrent)
            p50s.setdefault(mode, {})[kind] = summarize(
                f"[{mode}] {title} ({args.workers} workers, {args.rounds} rounds)",
                *measure(ids[mode][kind]),
            )
    if len(modes) == 2:
        a_mode, b_mode = modes
        print(f"\n{a_mode} / {b_mode}, p50 of the build's total (of its Terraform time):")
        for kind in TITLES:
            a, b = p50s[a_mode].get(kind), p50s[b_mode].get(kind)
            if a and b:
                print(
                    f"  {kind:<10} {a['total'] * 1000:>6.0f} / {b['total'] * 1000:>6.0f} ms "
                    f"= {a['total'] / b['total'] * 100:>5.1f}%   "
                    f"({a['terraform'] * 1000:.0f} / {b['terraform'] * 1000:.0f} ms "
                    f"= {a['terraform'] / b['terraform'] * 100:.1f}%)"
                )
                report(
                    "build_latency",
                    f"{kind} total p50, {a_mode} share of {b_mode}",
                    round(a["total"] / b["total"], 3),
                    "x",
                    baseline=f"{b_mode} {kind} total p50",
                )


def step_medians(build_ids) -> str:
    """The median of each step the runner timed ("Timings:" log lines) over these builds."""
    from workspaces.models import ProvisionerJobLog

    steps: dict[str, list[float]] = {}
    lines = ProvisionerJobLog.objects.filter(
        job__build__id__in=build_ids, output__startswith="Timings:"
    ).values_list("output", flat=True)
    for line in lines:
        for m in re.finditer(r"([a-z][a-z ()]*?) ([\d.]+) s", line.removeprefix("Timings:")):
            steps.setdefault(m.group(1).strip(" ,"), []).append(float(m.group(2)))
    return ", ".join(f"{k} {statistics.median(v) * 1000:.0f} ms" for k, v in steps.items())


def stops_at_once(sandbox: Sandbox, n: int, owner, template, concurrency: int | None) -> None:
    """n running workspaces stopped at once on one worker (its default concurrency: None)."""
    from workspaces import services
    from workspaces.models import Workspace

    (worker,) = start_workers(sandbox, 1, "sandboxed", concurrency=concurrency)
    setting = f"concurrency {concurrency}" if concurrency else "default concurrency"
    try:
        workspaces = [
            services.create_workspace(
                actor=owner,
                owner=owner,
                template=template,
                name=f"stop{i}-{concurrency or 0}",
                parameters={},
            )
            for i in range(n)
        ]
        wait_done([w.latest_build_id for w in workspaces])
        workspaces = list(Workspace.objects.filter(id__in=[w.id for w in workspaces]))
        began = time.monotonic()
        stops = [services.create_build(w, actor=owner, transition="stop").id for w in workspaces]
        wait_done(stops)
        wall = time.monotonic() - began
        rows, failures = measure(stops)
        summarize(f"{n} stops at once (one worker, {setting})", rows, failures)
        print(f"  runner's steps, p50: {step_medians(stops)}")
        print(f"  wall time, first stop requested -> last done: {wall:.2f} s (target <= 8 s)")
        report(
            "build_latency", f"{n} stops at once wall ({setting})", round(wall, 2), "s", target=8
        )
        deletes = [
            services.create_build(w, actor=owner, transition="delete").id for w in workspaces
        ]
        wait_done(deletes)
    finally:
        sandbox.stop(worker, timeout=30)


if __name__ == "__main__":
    main()
