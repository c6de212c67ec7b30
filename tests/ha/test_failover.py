"""Three `portal server` replicas behind HAProxy; one is killed with SIGKILL mid-way.

A client on one replica and the agent on another reach each other (SSH, port-forward,
terminal). Then the replica holding the agent, the periodic work and a job in flight is
SIGKILLed while API requests flow through the load balancer: only requests that were on it
fail, the agent is back on another replica within 10 s, SSH works again, the job is failed
once by the reaper on the new leader, and the replicas table shows what happened.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import httpx
import pytest
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from portal.accounts.choices import Role
from portal.accounts.services import create_token
from portal.ops.models import PeriodicRun
from portal.periodic import leader_pid
from tests import factories
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
from tests.relay.replicas import EchoService, database_url
from tests.security import live_streams
from workspaces.choices import JobStatus
from workspaces.models import ProvisionerJob, ProvisionerJobLog

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "ha-agent-token"
AGENT_BACK_WITHIN = 10.0  # the promise
DEAD_WORKER = "celery@replica-r1"  # the dead replica's worker, which held the job


def fresh(model_row):
    model_row.refresh_from_db()
    return model_row


def leader_replica(replicas: list[ServerReplica]) -> ServerReplica | None:
    close_old_connections()
    leader = leader_pid()
    if leader is None:
        return None
    return next((r for r in replicas if not r.killed and leader[1] in r.pids()), None)


def ssh_echo(url: str, token: str, workspace: str, word: str) -> bool:
    done = portal_cli(url, token, "ssh", workspace, "--", f"echo {word}", timeout=60)
    return done.returncode == 0 and word in done.stdout


async def _streams(replica, agent, token: str, port: int) -> None:
    forward = await live_streams.port_forward(replica, agent, port, token=token)
    terminal = await live_streams.terminal(replica, agent, token=token)
    await forward.close()
    await terminal.close()


def streams_work(replica, agent, token: str, port: int) -> None:
    asyncio.run(_streams(replica, agent, token, port))


@pytest.fixture
def deployment(transactional_db, make_user):
    owner = make_user(Role.OWNER, username="admin")
    alice = make_user(username="alice")
    agent = make_agent(alice, TOKEN)
    _, owner_token = create_token(owner, actor=owner, name="ha")
    _, token = create_token(alice, actor=alice, name="ha")
    common = {
        "database_url": database_url(),
        "redis_url": settings.REDIS_URL,
        "secret_key": settings.SECRET_KEY,
        # The reaper looks every second and fails a job silent for 4 s: quick takeover figures.
        "PORTAL_REAPER_INTERVAL_SECONDS": "1",
        "PORTAL_REAPER_TIMEOUT_SECONDS": "4",
    }
    replicas = [ServerReplica(name, **common) for name in ("r1", "r2", "r3")]
    haproxy = HAProxy(replicas)
    for r in replicas:
        r.env["PORTAL_ACCESS_URL"] = haproxy.url
    procs: list = []
    try:
        yield replicas, haproxy, agent, alice, token, owner_token, procs
    finally:
        for proc in procs:
            stop_process(proc)
        haproxy.stop()
        for r in replicas:
            r.stop()
        close_old_connections()


def test_killing_a_replica_loses_only_its_requests_and_everything_comes_back(deployment):
    replicas, haproxy, agent, alice, token, owner_token, procs = deployment
    r1, r2, r3 = replicas
    workspace = agent.resource.job.build.workspace.name

    # r1 starts alone: it leads the periodic work, and the agent (through HAProxy) lands on it.
    r1.start().wait_ready()
    wait_until(lambda: leader_replica(replicas) is r1, "r1 to lead the periodic work", 30)
    haproxy.start()
    procs.append(start_agent(haproxy.url, TOKEN))
    wait_until(lambda: fresh(agent).last_connected_at, "the agent to connect", 60)
    r2.start()
    r3.start()
    r2.wait_ready()
    r3.wait_ready()

    # The replicas table lists the three web processes, each with its relay address.
    owner_api = httpx.Client(
        base_url=haproxy.url, headers={"Authorization": f"Bearer {owner_token}"}, timeout=30
    )

    def three_online():
        listed = owner_api.get("/api/v2/replicas").json()["results"]
        online = [x for x in listed if x["status"] == "online" and x["relay_address"]]
        return listed if len(online) == 3 else None

    listed = wait_until(three_online, "three replicas online in /api/v2/replicas", 30, every=0.5)
    assert {x["relay_address"] for x in listed} == {f"127.0.0.1:{r.relay_port}" for r in replicas}

    # A client on r2 and on r3 reach the agent connected to r1: SSH, port-forward, terminal.
    echo = EchoService()
    try:
        assert ssh_echo(r2.url, token, workspace, "before-the-kill")
        streams_work(r3, agent, token, echo.port)

        # A job in flight on r1's worker (its heartbeat stands for that worker's).
        job_ws = factories.workspace(alice, job_status=JobStatus.RUNNING)
        job = job_ws.latest_build.job
        beating = threading.Event()
        beating.set()

        def worker_heartbeat() -> None:
            while beating.is_set():
                ProvisionerJob.objects.filter(pk=job.pk).update(
                    worker_id=DEAD_WORKER, heartbeat_at=timezone.now()
                )
                time.sleep(0.3)
            close_old_connections()

        heart = threading.Thread(target=worker_heartbeat, daemon=True)
        heart.start()

        load = Load(haproxy.url, token).start()
        wait_until(lambda: len(load.results) >= 30, "API requests through HAProxy", 30)
        assert not load.failed(), load.failed()

        # kill -9 r1: the agent's replica, the periodic work's leader, the job's worker.
        killed_at = timezone.now()
        beating.clear()
        heart.join(5)
        r1.kill9()
        dead_at = time.monotonic()

        # The agent is back, on another replica, within 10 s.
        wait_until(
            lambda: (fresh(agent).last_connected_at or killed_at) > killed_at,
            "the agent to reconnect to another replica",
            AGENT_BACK_WITHIN,
        )
        # SSH works again: through the load balancer, and from a client on r2.
        wait_until(
            lambda: ssh_echo(haproxy.url, token, workspace, "after-the-kill"),
            "SSH through HAProxy after the kill",
            60,
            every=0.5,
        )
        assert ssh_echo(r2.url, token, workspace, "client-on-r2")
        streams_work(r3, agent, token, echo.port)

        # Requests keep flowing; only those that were on r1 when it died failed.
        settled = len(load.results)
        wait_until(lambda: len(load.results) >= settled + 30, "more API requests", 30)
        load.stop()
        failed = load.failed()
        # Each failure began before r1 was gone (it was on r1); none after: HAProxy retried
        # refused connections on the survivors while r1 was not yet marked down.
        assert all(start <= dead_at for start, _, _ in failed), failed
        assert len(failed) < len(load.results) // 10, failed

        # Periodic work goes on: a survivor leads, and its reaper fails the job exactly once.
        wait_until(lambda: leader_replica(replicas) in (r2, r3), "a new leader", 30)
        wait_until(lambda: fresh(job).status == JobStatus.FAILED, "the reaper to fail the job", 30)
        reaped = ProvisionerJobLog.objects.filter(job=job, output__contains="no heartbeat")

        def reaper_ran_since(moment):
            row = PeriodicRun.objects.filter(name="reap-hung-jobs").first()
            return row is not None and row.last_run_at > moment

        # Later turns of the reaper (one a second) do not fail it again.
        after_fail = timezone.now() + timedelta(seconds=1)
        wait_until(lambda: reaper_ran_since(after_fail), "more reaper turns", 30)
        assert reaped.count() == 1
        assert fresh(job).worker_id == DEAD_WORKER  # nobody ran it again
    finally:
        echo.close()
        owner_api.close()

    # The dead replica's row stays (stale) until pruned; the survivors' rows are online.
    rows = {r["relay_address"]: r for r in owner_api_get(haproxy.url, owner_token)}
    assert rows[f"127.0.0.1:{r2.relay_port}"]["status"] == "online"
    assert rows[f"127.0.0.1:{r3.relay_port}"]["status"] == "online"
    assert f"127.0.0.1:{r1.relay_port}" in rows


def owner_api_get(url: str, token: str) -> list[dict]:
    r = httpx.get(f"{url}/api/v2/replicas", headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    return r.json()["results"]
