"""Failover figures: three `portal server` replicas behind HAProxy, one killed with SIGKILL.

Starts r1 alone and connects --agents real agents through HAProxy (so they all land on r1,
which also leads the periodic work), then r2 and r3; sends API requests through HAProxy from
--clients threads; kills r1's whole process tree with SIGKILL. Prints: agents back on another
replica (p50 / max seconds after the kill), SSH back (first successful `portal ssh` through
HAProxy), requests failed out of sent, and when a survivor took over the periodic work.
--rounds N repeats the kill (a fresh r1-like replica each round, always killing the agents'
replica). On bench/harness.py's Sandbox: its own database (dropped), private Redis and
temporary directories; free ports; stops everything it started by pid.

    .venv/bin/python bench/failover.py [--agents 5] [--clients 3] [--rounds 1]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from harness import Sandbox, report  # bench/harness.py: own database, Redis, temp dir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with Sandbox("failover") as box:
        box.setup_django()
        for n in range(args.rounds):
            run(box, args, n + 1)


def run(box, args, round_no: int) -> None:
    from django.conf import settings
    from django.db import close_old_connections
    from django.utils import timezone

    from portal.accounts.choices import Role
    from portal.accounts.services import create_token, create_user, system_actor
    from portal.periodic import leader_pid
    from tests.agents.helpers import make_agent
    from tests.ha.cluster import (
        HAProxy,
        Load,
        ServerReplica,
        portal_cli,
        start_agent,
        stop_process,
        wait_until,
    )

    tag = f"r{round_no}"
    owner = create_user(
        username=f"alice{round_no}", email=f"alice{round_no}@example.com",
        password="bench-password-123", roles=[Role.OWNER], actor=system_actor(),
    )  # fmt: skip
    _, token = create_token(owner, actor=owner, name="bench")
    agents = [make_agent(owner, f"bench-{tag}-agent-{i}") for i in range(args.agents)]
    common = {
        "database_url": box.db_url,
        "redis_url": box.redis_url,
        "secret_key": settings.SECRET_KEY,
        "PORTAL_REAPER_INTERVAL_SECONDS": "1",
        "PORTAL_REAPER_TIMEOUT_SECONDS": "4",
    }
    replicas = [ServerReplica(f"{tag}-{n}", **common) for n in ("a", "b", "c")]
    first, *others = replicas
    haproxy = HAProxy(replicas)
    for r in replicas:
        r.env["PORTAL_ACCESS_URL"] = haproxy.url
    procs = []
    load = None
    try:
        first.start().wait_ready()
        haproxy.start()
        procs = [start_agent(haproxy.url, f"bench-{tag}-agent-{i}") for i in range(args.agents)]

        def all_connected() -> bool:
            close_old_connections()
            return all(a.__class__.objects.get(pk=a.pk).last_connected_at for a in agents)

        wait_until(all_connected, "the agents to connect", 120, every=0.2)
        for r in others:
            r.start()
        for r in others:
            r.wait_ready()
        workspace = agents[0].resource.job.build.workspace.name
        started = time.monotonic()
        done = portal_cli(haproxy.url, token, "ssh", workspace, "--", "echo ready")
        assert done.returncode == 0, done.stderr
        ssh_alone = time.monotonic() - started  # one `portal ssh` run: the resolution of SSH back
        load = Load(haproxy.url, token, threads=args.clients).start()
        wait_until(lambda: len(load.results) >= 50, "requests", 60)

        killed_at = timezone.now()
        t0 = time.monotonic()
        first.kill9()
        back: dict[int, float] = {}
        ssh: dict[str, float] = {}
        leader_back = None
        survivors = set().union(*(r.pids() for r in others))
        deadline = t0 + 60

        def poll_ssh() -> None:  # its own thread: one attempt takes a CLI start-up
            while time.monotonic() < deadline:
                started = time.monotonic() - t0
                done = portal_cli(haproxy.url, token, "ssh", workspace, "--", "echo back")
                if done.returncode == 0 and "back" in done.stdout:
                    ssh["back"], ssh["started"] = time.monotonic() - t0, started
                    return
                ssh["failed"] = ssh.get("failed", 0) + 1
                time.sleep(0.2)

        ssh_poller = threading.Thread(target=poll_ssh, daemon=True)
        ssh_poller.start()
        while time.monotonic() < deadline and (
            len(back) < len(agents) or leader_back is None or ssh_poller.is_alive()
        ):
            close_old_connections()
            for i, a in enumerate(agents):
                if i not in back:
                    at = a.__class__.objects.get(pk=a.pk).last_connected_at
                    if at and at > killed_at:
                        back[i] = (at - killed_at).total_seconds()
            if leader_back is None:
                leader = leader_pid()
                if leader and leader[1] in survivors:
                    leader_back = time.monotonic() - t0
            time.sleep(0.1)
        ssh_back = ssh.get("back")
        time.sleep(1)
        load.stop()
        failed = load.failed()
        times = sorted(back.values())
        print(f"round {round_no}: kill -9 of the replica holding {len(agents)} agents")
        if times:
            report("failover", "agents back p50", statistics.median(times), "s")
            report("failover", "agents back max", times[-1], "s", back=len(times), of=len(agents))
        else:
            print("  agents back: none within 60 s")
        if ssh_back is not None:
            report("failover", "SSH back", ssh_back, "s", one_ssh_run=round(ssh_alone, 3))
            print(
                f"  (the working `portal ssh` started at {ssh['started']:+.2f} s, after "
                f"{ssh.get('failed', 0)} failed attempt(s) begun while the agent was away)"
            )
        else:
            print("  SSH back: never within 60 s")
        if leader_back is not None:
            report("failover", "periodic work leader back", leader_back, "s")
        report("failover", "API requests failed", len(failed), "requests", sent=len(load.results))
        print(
            f"  ({len(failed)} failed of {len(load.results)} sent; one `portal ssh` run "
            f"takes {ssh_alone:.2f} s)"
        )
        for start, _, why in failed:
            print(f"    {start - t0:+.2f} s: {why[:120]}")
    finally:
        if load is not None:
            load.stop()
        for proc in procs:
            stop_process(proc)
        haproxy.stop()
        for r in replicas:
            r.stop()


if __name__ == "__main__":
    main()
