"""Benchmark the quota check of a start build: the commit_quota call and plan+apply vs apply.

A member with 20 workspaces (each with a latest build that costs something) in 5 groups
besides Everyone. The job store's commit_quota (job row lock, per-user advisory lock, budget
and consumption queries, the accepted cost written) is timed for one running start build, with
the workspace_quota gate on and off (off: the transaction and job lock only, what a store
without a quota handler pays); its SQL queries are counted. Then, within about a minute, a real
local Terraform build of a small template with costs is timed as plain `apply` (gate off)
and as `plan -out` + check + `apply PLAN` (gate on). Runs in a sandbox of its own
(bench/harness.py: a uniquely named database dropped at the end, a private Redis, a temporary
data directory where the builds' work directories go); nothing else is touched.

    .venv/bin/python bench/quota_check.py [--calls 300] [--builds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Sandbox, report  # noqa: E402

WORKER = "bench-worker"

TEMPLATE = """
terraform {
  required_providers {
    portal = { source = "portal.local/portal/portal" }
  }
}
data "portal_workspace" "me" {}
resource "terraform_data" "home" {}
resource "portal_metadata" "home" {
  resource_id = terraform_data.home.id
  daily_cost  = 2
}
resource "terraform_data" "vm" {
  count = data.portal_workspace.me.start_count
}
resource "portal_metadata" "vm" {
  count       = data.portal_workspace.me.start_count
  resource_id = terraform_data.vm[0].id
  daily_cost  = 5
}
"""


def gate_off(name):
    return False if name == "workspace_quota" else None


def tar_of(text: str) -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = text.encode()
        info = tarfile.TarInfo("main.tf")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def seed():
    """The member, their 5 groups (and Everyone), a template imported for real, 20 workspaces."""
    from enterprise.groups import services as groups
    from enterprise.groups.membership import everyone
    from portal.accounts import services as accounts
    from templates_app import services as templates
    from workspaces import tasks
    from workspaces.builds import dispatch
    from workspaces.models import ProvisionerJob, Workspace, WorkspaceBuild

    dispatch.enqueue = lambda job: None  # no broker: the bench takes its jobs itself
    system = accounts.system_actor()
    member = accounts.create_user(
        actor=system, username="member", email="m@example.com", password="bench-Passw0rd-1"
    )
    groups.update_group(everyone(), actor=system, quota_allowance=100)
    for i in range(5):
        group = groups.create_group(actor=system, name=f"team-{i}", quota_allowance=100)
        groups.add_members(group, [member], actor=system)
    file = templates.upload_file(tar_of(TEMPLATE), actor=system, mimetype="application/gzip")
    version = templates.create_version(actor=system, file=file)
    tasks.run_acquired(version.import_job_id, WORKER, {})
    version.refresh_from_db()
    assert version.import_status == "succeeded", version.import_error
    template = templates.create_template(actor=system, name="costly", version=version)
    for i in range(20):  # rows as a finished start build leaves them, without Terraform
        ws = Workspace.objects.create(owner=member, template=template, name=f"ws-{i}")
        job = ProvisionerJob.objects.create(
            type="workspace_build", status="succeeded", initiator=member, input={}
        )
        ws.latest_build = WorkspaceBuild.objects.create(
            workspace=ws,
            template_version=version,
            build_number=1,
            transition="start",
            initiator=member,
            job=job,
            daily_cost=7,
        )
        ws.save(update_fields=["latest_build"])
    return member, template


def time_commit_quota(member, template, calls: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portal import hooks
    from workspaces import services
    from workspaces.builds.job_store import DatabaseJobStore

    ws = services.create_workspace(actor=member, owner=member, template=template, name="bench")
    store = DatabaseJobStore()
    spec = store.acquire({}, WORKER, job_id=ws.latest_build.job_id)
    assert spec.check_cost
    print(f"commit_quota at 20 workspaces and 5 groups (+Everyone), {calls} calls; ms")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: wall grows with it)")
    print(f"{'gate':>4} {'p50':>7} {'p95':>7} {'mean':>7} {'cpu':>7} queries")
    results, cpu = {}, {}
    for gate in ("on", "off"):
        if gate == "off":
            hooks.feature_gate.register(gate_off)
        try:
            assert store.commit_quota(spec.job_id, 7).ok  # warm
            with CaptureQueriesContext(connection) as queries:
                store.commit_quota(spec.job_id, 7)
            times = []
            cpu_began = time.process_time()
            for _ in range(calls):
                began = time.perf_counter()
                store.commit_quota(spec.job_id, 7)
                times.append((time.perf_counter() - began) * 1000)
            cpu[gate] = (time.process_time() - cpu_began) * 1000 / calls
        finally:
            if gate == "off":
                hooks.feature_gate.unregister(gate_off)
        times.sort()
        p50, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
        results[gate] = statistics.mean(times)
        print(
            f"{gate:>4} {p50:>7.2f} {p95:>7.2f} {statistics.mean(times):>7.2f} "
            f"{cpu[gate]:>7.2f} {len(queries.captured_queries)}"
        )
        report("quota_check", f"commit_quota gate {gate} p50", round(p50, 2), "ms")
        report("quota_check", f"commit_quota gate {gate} p95", round(p95, 2), "ms")
        report("quota_check", f"commit_quota gate {gate} mean", round(results[gate], 2), "ms")
        report("quota_check", f"commit_quota gate {gate} cpu", round(cpu[gate], 2), "ms")
        n = len(queries.captured_queries)
        report("quota_check", f"commit_quota gate {gate} queries", n, "queries")
    print(
        f"the check adds {results['on'] - results['off']:.2f} ms per build (mean wall; "
        f"{cpu['on'] - cpu['off']:.2f} ms of this process's CPU; target <= 5)"
    )
    added = round(results["on"] - results["off"], 2)
    report("quota_check", "check cost (mean on - off)", added, "ms", baseline="gate off mean")
    # Each call reconnects (the store returns the connection between calls), as a worker does.


def time_builds(member, template, builds: int) -> None:
    from portal import hooks
    from workspaces import services, tasks
    from workspaces.models import ProvisionerJob

    print(f"\nreal local build of a 4-resource template (start), {builds} each; seconds")
    for gate in ("off", "on"):
        if gate == "off":
            hooks.feature_gate.register(gate_off)
        try:
            times = []
            for i in range(builds):
                ws = services.create_workspace(
                    actor=member, owner=member, template=template, name=f"{gate}-{i}"
                )
                began = time.perf_counter()
                tasks.run_acquired(ws.latest_build.job_id, WORKER, {})
                times.append(time.perf_counter() - began)
                job = ProvisionerJob.objects.get(pk=ws.latest_build.job_id)
                assert job.status == "succeeded", job.error
        finally:
            if gate == "off":
                hooks.feature_gate.unregister(gate_off)
        label = "apply" if gate == "off" else "plan + check + apply PLAN"
        print(
            f"{label:<26} median {statistics.median(times):.2f} (runs: "
            + ", ".join(f"{t:.2f}" for t in times)
            + ")"
        )
        report("quota_check", f"build {label} median", round(statistics.median(times), 2), "s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--builds", type=int, default=2, help="0 skips the Terraform builds")
    args = parser.parse_args()
    with Sandbox("quota_check") as sandbox:
        sandbox.setup_django()
        member, template = seed()
        time_commit_quota(member, template, args.calls)
        if args.builds:
            time_builds(member, template, args.builds)


if __name__ == "__main__":
    main()
