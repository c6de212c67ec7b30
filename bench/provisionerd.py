"""Build time through an external provisioner daemon vs a built-in worker (local template).

Usage: .venv/bin/python bench/provisionerd.py [--cycles 10] [--concurrent 4] [--daemons 2]
                                             [--rounds 2]

Its own database (portal_bench_provisionerd on PORTAL_BENCH_DATABASE_URL's server, recreated)
and Redis db (PORTAL_BENCH_REDIS_URL, default db 12); build_latency.py's measurements.
`built-in`: `portal worker` processes. `daemon`: a server (uvicorn serving portal.asgi, as
`portal server` does) and `portal provisionerd start` processes with a provisioner key, whose
environment holds no database or Redis settings; the template's jobs carry the key's tag, so
only the daemons can take them. Both build unsandboxed (the sandbox's cost is
build_latency.py's subject). For each: sequential stop+start cycles, then N workspaces at once.
The control-plane share is (total - Terraform) / total, as build_latency.py reports it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import build_latency as bl  # noqa: E402

TAGS = {"pool": "bench"}
DB_NAME = "portal_bench_provisionerd"
REDIS_URL = os.environ.get("PORTAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")


def setup_env() -> None:
    """build_latency's set-up, on this benchmark's own database and Redis db."""
    server = bl.DB_SERVER.rstrip("/")
    os.environ.update(
        PORTAL_DATABASE_URL=f"{server}/{DB_NAME}",
        PORTAL_REDIS_URL=REDIS_URL,
        PORTAL_DATA_DIR=str(bl.DATA_DIR),
        PORTAL_SECRET_KEY="bench-secret-key-not-for-production-use-0123456789",
        PORTAL_STARTER_TEMPLATE="false",
        PORTAL_DATABASE_POOL_SIZE="16",
        DJANGO_SETTINGS_MODULE="portal.settings",
    )
    for sql in (f"DROP DATABASE IF EXISTS {DB_NAME}", f"CREATE DATABASE {DB_NAME}"):
        subprocess.run(["psql", server + "/postgres", "-qc", sql], check=True)
    import redis

    redis.from_url(REDIS_URL).flushdb()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


UNSANDBOXED = {"PORTAL_BUILD_SANDBOX": "none", "PORTAL_DANGEROUS_ALLOW_UNSANDBOXED_BUILDS": "true"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PORTAL_ACCESS_URL": url, "PORTAL_RELAY_PORT": str(free_port())}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--port", str(port),
         "--log-level", "warning", "--timeout-graceful-shutdown", "2"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, url
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                sys.exit("the server did not start")
            time.sleep(0.2)


def start_daemons(n: int, url: str, secret: str) -> list[subprocess.Popen]:
    from workspaces.models import Provisioner

    Provisioner.objects.filter(key_id__isnull=False).delete()  # the last round's daemons
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PORTAL_") and k != "DJANGO_SETTINGS_MODULE"
    }
    procs = [
        subprocess.Popen(
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
                str(bl.DATA_DIR / f"daemon{i}"),
                "--dangerous-allow-unsandboxed-builds",
                "--sandbox",
                "none",
                "--poll-interval",
                "1.0",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        for i in range(n)
    ]
    deadline = time.monotonic() + 60
    while Provisioner.objects.filter(key_id__isnull=False).count() < n:
        if time.monotonic() > deadline:
            sys.exit("daemons did not start")
        time.sleep(0.2)
    return procs


def start_builtin(n: int) -> list[subprocess.Popen]:
    bl.MODES["bench"] = UNSANDBOXED
    return bl.start_workers(n, "bench")


def run(tag: str, args, owner, template, start) -> dict[str, list]:
    from workspaces import services

    ids: dict[str, list] = {"start": [], "stop": [], "concurrent": []}
    procs = start()
    try:
        ws = services.create_workspace(
            actor=owner, owner=owner, template=template, name=f"seq-{tag}", parameters={}
        )
        bl.wait_done([ws.latest_build_id])
        for _ in range(args.cycles):
            stop = services.create_build(ws, actor=owner, transition="stop")
            bl.wait_done([stop.id])
            ids["stop"].append(stop.id)
            begin = services.create_build(ws, actor=owner, transition="start")
            bl.wait_done([begin.id])
            ids["start"].append(begin.id)
        ids["concurrent"] = [
            services.create_workspace(
                actor=owner, owner=owner, template=template, name=f"c{i}-{tag}", parameters={}
            ).latest_build_id
            for i in range(args.concurrent)
        ]
        bl.wait_done(ids["concurrent"])
        workspaces = [ws, *(w for w in type(ws).objects.filter(name__endswith=f"-{tag}"))]
        bl.wait_done(
            [
                services.create_build(w, actor=owner, transition="delete").id
                for w in {w.pk: w for w in workspaces}.values()
                if w.deleted_at is None
            ]
        )
    finally:
        bl.stop_workers(procs)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=4)
    parser.add_argument("--daemons", type=int, default=2, help="and as many built-in workers")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    setup_env()

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
    builtin_template = make_template(owner, "local", pack(EXAMPLES / "local"))
    # The same version, with jobs only the daemons' key may serve.
    daemon_template = template_services.create_template(
        actor=owner,
        name="local-daemon",
        version=import_version(owner, pack(EXAMPLES / "local")),
        provisioner_tags=TAGS,
    )
    _, secret = keys.create_key(actor=owner, name="bench", tags=TAGS)
    server, url = start_server()
    results: dict[str, dict[str, list]] = {
        mode: {"start": [], "stop": [], "concurrent": []} for mode in ("built-in", "daemon")
    }
    try:
        # The modes alternate, so both meet the same load from the rest of the machine.
        for round_ in range(args.rounds):
            for mode, template, start in (
                ("built-in", builtin_template, lambda: start_builtin(args.daemons)),
                ("daemon", daemon_template, lambda: start_daemons(args.daemons, url, secret)),
            ):
                tag = f"{mode.replace('-', '')}{round_}"
                for kind, built in run(tag, args, owner, template, start).items():
                    results[mode][kind] += built
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(bl.DATA_DIR, ignore_errors=True)
    p50 = {}
    for mode, ids in results.items():
        for kind, built in ids.items():
            title = f"[{mode}] {kind} ({len(built)} builds, {args.daemons} runners)"
            p50[mode, kind] = bl.report(title, *bl.measure(built))
    print("\ndaemon / built-in, p50 of the build's total (and of its Terraform time):")
    for kind in ("start", "stop", "concurrent"):
        a, b = p50.get(("daemon", kind)), p50.get(("built-in", kind))
        if a and b:
            print(
                f"  {kind:<10} {a['total'] * 1000:>6.0f} / {b['total'] * 1000:>6.0f} ms "
                f"= {a['total'] / b['total'] * 100:>5.1f}%   "
                f"control plane {(a['total'] - a['terraform']) / a['total'] * 100:.1f}% / "
                f"{(b['total'] - b['terraform']) / b['total'] * 100:.1f}%"
            )


if __name__ == "__main__":
    main()
