"""Build time through an external provisioner daemon vs a built-in worker (local template).

Usage: .venv/bin/python bench/provisionerd.py [--cycles 5] [--concurrent 4] [--runners 2]
                                             [--rounds 2]

On the harness (bench/harness.py): its own database, Redis, directory and processes. `built-in`:
`portal worker` processes. `daemon`: a server (uvicorn serving portal.asgi, as `portal server`
does) and `portal provisionerd start` processes with a provisioner key, their environment
without any PORTAL_* (no database or Redis settings); the daemon template's jobs carry the key's
tag, so only the daemons take them. Both build unsandboxed (the sandbox's cost is
build_latency.py's subject). The modes alternate for `--rounds`: sequential stop+start cycles,
then N workspaces at once. For each build, from its job row and log rows (as build_latency.py):
pick-up (requested -> taken), Terraform (the runner's timings line), post (Terraform's last
line -> completed), total, and the control-plane share (total - Terraform) / total.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from harness import Sandbox, free_port, report, wait_port  # noqa: E402

BENCH = "provisionerd"
TAGS = {"pool": "bench"}
UNSANDBOXED = {"PORTAL_BUILD_SANDBOX": "none", "PORTAL_DANGEROUS_ALLOW_UNSANDBOXED_BUILDS": "true"}
KINDS = ("start", "stop", "concurrent")


def wait_for(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            sys.exit(f"{what} did not happen in {timeout:.0f} s")
        time.sleep(0.2)


def start_server(box: Sandbox) -> str:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    box.spawn(
        [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--port", str(port),
         "--log-level", "warning", "--timeout-graceful-shutdown", "2"],
        env=box.env(PORTAL_ACCESS_URL=url, PORTAL_RELAY_PORT=str(free_port())),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_port(port)
    return url


def start_builtin(box: Sandbox, n: int) -> list:
    from workspaces.models import Provisioner

    Provisioner.objects.filter(id__startswith="bench").delete()
    procs = [
        box.spawn(
            [sys.executable, "-m", "portal", "worker", "--name", f"bench{i}", "--concurrency", "1"],
            env=box.env(**UNSANDBOXED),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for i in range(n)
    ]
    wait_for(
        lambda: Provisioner.objects.filter(id__startswith="bench").count() >= n, "workers' start"
    )
    return procs


def start_daemons(box: Sandbox, n: int, url: str, secret: str) -> list:
    from workspaces.models import Provisioner

    Provisioner.objects.filter(key_id__isnull=False).delete()  # the last round's daemons
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "DJANGO_"))}
    procs = [
        box.spawn(
            [
                sys.executable,
                "-m",
                "portal_provisionerd",
                "start",
                "--url",
                url,
                "--key",
                secret,
                "--name",
                f"bench{i}",
                "--data-dir",
                str(box.dir / f"daemon{i}"),
                "--sandbox",
                "none",
                "--dangerous-allow-unsandboxed-builds",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for i in range(n)
    ]
    wait_for(
        lambda: Provisioner.objects.filter(key_id__isnull=False).count() >= n, "daemons' start"
    )
    return procs


def wait_done(build_ids, timeout: float = 600) -> None:
    from workspaces.choices import JOB_ACTIVE
    from workspaces.models import WorkspaceBuild

    wait_for(
        lambda: (
            not WorkspaceBuild.objects.filter(id__in=build_ids, job__status__in=JOB_ACTIVE).exists()
        ),
        "the builds' end",
        timeout,
    )


def measure(build_ids) -> tuple[list[dict], int]:
    """Timings of finished builds; and how many did not succeed (as build_latency.py)."""
    from workspaces.choices import LogSource
    from workspaces.models import ProvisionerJobLog, WorkspaceBuild

    rows, failures = [], 0
    for build in WorkspaceBuild.objects.filter(id__in=build_ids).select_related("job"):
        job = build.job
        if job.status != "succeeded":
            failures += 1
            continue
        last = ProvisionerJobLog.objects.filter(job=job, source=LogSource.PROVISIONER).last()
        total = (job.completed_at - build.created_at).total_seconds()
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
                "control plane": (total - terraform) / total,
            }
        )
    return rows, failures


def p50(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def run(tag: str, args, owner, template, start) -> dict[str, list]:
    from workspaces import services
    from workspaces.models import Workspace

    ids: dict[str, list] = {kind: [] for kind in KINDS}
    procs = start()
    try:
        ws = services.create_workspace(
            actor=owner, owner=owner, template=template, name=f"seq-{tag}", parameters={}
        )
        wait_done([ws.latest_build_id])
        for _ in range(args.cycles):
            stop = services.create_build(ws, actor=owner, transition="stop")
            wait_done([stop.id])
            ids["stop"].append(stop.id)
            begin = services.create_build(ws, actor=owner, transition="start")
            wait_done([begin.id])
            ids["start"].append(begin.id)
        ids["concurrent"] = [
            services.create_workspace(
                actor=owner, owner=owner, template=template, name=f"c{i}-{tag}", parameters={}
            ).latest_build_id
            for i in range(args.concurrent)
        ]
        wait_done(ids["concurrent"])
        wait_done(
            [
                services.create_build(w, actor=owner, transition="delete").id
                for w in Workspace.objects.filter(name__endswith=f"-{tag}", deleted_at__isnull=True)
            ]
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=5, help="stop+start cycles per round")
    parser.add_argument("--concurrent", type=int, default=4)
    parser.add_argument("--runners", type=int, default=2, help="daemons, and as many workers")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with Sandbox(BENCH) as box:
        box.setup_django()
        from enterprise.provisioner_daemons import keys
        from portal.accounts.services import create_user, system_actor
        from templates_app import services as template_services
        from tests.provisioning.conftest import import_version, make_template
        from workspaces.management.commands.ensure_starter_template import EXAMPLES, pack

        owner = create_user(
            actor=system_actor(),
            username="bench",
            email="bench@example.com",
            password="bench-password-123456",
            roles=["owner"],
        )
        templates = {
            "built-in": make_template(owner, "local", pack(EXAMPLES / "local")),
            "daemon": template_services.create_template(
                actor=owner,
                name="local-daemon",
                version=import_version(owner, pack(EXAMPLES / "local")),
                provisioner_tags=TAGS,
            ),
        }
        _, secret = keys.create_key(actor=owner, name="bench", tags=TAGS)
        url = start_server(box)
        starts = {
            "built-in": lambda: start_builtin(box, args.runners),
            "daemon": lambda: start_daemons(box, args.runners, url, secret),
        }
        ids = {mode: {kind: [] for kind in KINDS} for mode in starts}
        # The modes alternate, so both meet the same load from the rest of the machine.
        for round_ in range(args.rounds):
            for mode, start in starts.items():
                tag = f"{mode.replace('-', '')}{round_}"
                for kind, built in run(tag, args, owner, templates[mode], start).items():
                    ids[mode][kind] += built
        for kind in KINDS:
            for mode in starts:
                rows, failures = measure(ids[mode][kind])
                if not rows:
                    print(f"  [{BENCH}] {mode} {kind}: no successful build ({failures} failed)")
                    continue
                for key in ("pick-up", "post", "total"):
                    report(BENCH, f"{mode} {kind} {key} p50", p50(rows, key) * 1000, "ms")
                report(
                    BENCH, f"{mode} {kind} control-plane share p50",
                    p50(rows, "control plane") * 100, "%", builds=len(rows), failures=failures,
                )  # fmt: skip


if __name__ == "__main__":
    main()
