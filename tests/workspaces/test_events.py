"""The user events WebSocket: a build job's status changes reach its owner's pages, no one else's.

The real ASGI app and a real Redis channel layer; builds are completed by the same provisioning
code a worker runs (no Terraform: the outcome is given).
"""

from __future__ import annotations

import asyncio

import pytest
from django.test import Client

from portal.accounts import services as accounts
from tests.conftest import PASSWORD
from tests.workspaces.helpers import buildable_template
from tests.workspaces.test_websocket import WAIT, bearer, closed, connect, in_thread
from workspaces import events, services
from workspaces.builds import jobs, provisioning
from workspaces.choices import BuildTransition, JobStatus
from workspaces.models import WorkspaceAgent, WorkspaceResource
from workspaces.provisioner.session import Outcome

pytestmark = pytest.mark.django_db(transaction=True)
PATH = "/api/v2/users/me/events"
WORKER = "events-worker"


@pytest.fixture
def alice(make_user):
    return make_user(username="alice")


@pytest.fixture
def bob(make_user):
    return make_user(username="bob")


def create(owner, name: str):
    return services.create_workspace(
        actor=owner, owner=owner, template=buildable_template(), name=name
    )


def run_to_end(job_id, status: str = JobStatus.SUCCEEDED) -> None:
    """A worker taking the job, then completing it as Terraform ended."""
    assert jobs.acquire(WORKER, job_id=job_id) is not None
    provisioning.finish_build(
        job_id,
        WORKER,
        outcome=Outcome(ok=status == JobStatus.SUCCEEDED, error="" if status else "boom"),
    )


async def next_event(comm) -> dict:
    message = await comm.receive_json_from(WAIT)
    assert message["type"] == "event", message
    return message["event"]


async def subscribed(comm) -> None:
    assert await comm.receive_json_from(WAIT) == {"type": "subscribed"}


def test_a_build_pushes_its_status_changes_to_its_owner_only(alice, bob):
    alice_headers, bob_headers = bearer(alice), bearer(bob)
    holder: dict = {}

    async def go():
        mine = await connect(PATH, alice_headers)
        theirs = await connect(PATH, bob_headers)
        await subscribed(mine)
        await subscribed(theirs)

        in_thread(lambda: holder.update(ws=create(alice, "dev")))
        ws = holder["ws"]
        job_id = str(ws.latest_build.job_id)
        pending = await next_event(mine)
        assert pending == {
            "kind": "build",
            "workspace_id": str(ws.id),
            "build_id": str(ws.latest_build_id),
            "job_id": job_id,
            "transition": BuildTransition.START,
            "status": JobStatus.PENDING,
        }
        in_thread(run_to_end, job_id)
        assert (await next_event(mine))["status"] == JobStatus.RUNNING
        assert (await next_event(mine))["status"] == JobStatus.SUCCEEDED

        # Bob hears of his own workspace first: none of Alice's events reached him before it.
        in_thread(lambda: holder.update(bobs=create(bob, "bobs")))
        event = await next_event(theirs)
        assert event["workspace_id"] == str(holder["bobs"].id)
        assert event["status"] == JobStatus.PENDING

        for comm in (mine, theirs):
            await comm.send_input({"type": "websocket.disconnect", "code": 1000})
            await asyncio.wait_for(asyncio.shield(comm.future), WAIT)

    asyncio.run(go())

    # What the list fragment, re-fetched on that event, then shows.
    client = Client()
    assert client.post("/login", {"login": "alice", "password": PASSWORD}).status_code == 302
    html = client.get("/workspaces/rows").content.decode()
    assert 'data-status="running"' in html and ">dev</a>" in html


def test_failed_cancel_and_stop_builds_are_announced(alice):
    ws = create(alice, "dev")
    run_to_end(ws.latest_build.job_id)
    headers = bearer(alice)
    holder: dict = {}

    async def go():
        comm = await connect(PATH, headers)
        await subscribed(comm)
        in_thread(
            lambda: holder.update(
                build=services.create_build(ws, actor=alice, transition=BuildTransition.STOP)
            )
        )
        stop = holder["build"]
        assert (await next_event(comm))["status"] == JobStatus.PENDING
        in_thread(services.cancel_build, stop, actor=alice)
        event = await next_event(comm)
        assert (event["build_id"], event["status"]) == (str(stop.id), JobStatus.CANCELED)

        in_thread(
            lambda: holder.update(
                build=services.create_build(ws, actor=alice, transition=BuildTransition.STOP)
            )
        )
        assert (await next_event(comm))["status"] == JobStatus.PENDING
        in_thread(run_to_end, holder["build"].job_id, "")
        assert (await next_event(comm))["status"] == JobStatus.RUNNING
        event = await next_event(comm)
        assert (event["transition"], event["status"]) == ("stop", JobStatus.FAILED)
        await comm.send_input({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(asyncio.shield(comm.future), WAIT)

    asyncio.run(go())


def test_a_rolled_back_change_is_never_announced(alice):
    from django.db import transaction

    headers = bearer(alice)

    def doomed():
        with pytest.raises(RuntimeError), transaction.atomic():
            create(alice, "ghost")
            raise RuntimeError("rolled back")

    async def go():
        comm = await connect(PATH, headers)
        await subscribed(comm)
        in_thread(doomed)
        in_thread(create, alice, "real")
        event = await next_event(comm)  # the first event is the committed workspace's
        assert event["status"] == JobStatus.PENDING
        await comm.send_input({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(asyncio.shield(comm.future), WAIT)

    asyncio.run(go())
    names = {w.name for w in alice.workspaces.all()}
    assert names == {"real"}


def test_agent_changes_reach_the_owner(alice):
    ws = create(alice, "dev")
    run_to_end(ws.latest_build.job_id)
    resource = WorkspaceResource.objects.create(
        job_id=ws.latest_build.job_id, transition="start", type="terraform_data", name="vm"
    )
    agent = WorkspaceAgent.objects.create(resource=resource, name="main", token_hash="0" * 64)
    headers = bearer(alice)

    async def go():
        comm = await connect(PATH, headers)
        await subscribed(comm)
        in_thread(events.agent_changed, agent.id, status="connected")
        assert await next_event(comm) == {
            "kind": "agent",
            "workspace_id": str(ws.id),
            "agent_id": str(agent.id),
            "lifecycle": "created",
            "status": "connected",
        }
        await comm.send_input({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(asyncio.shield(comm.future), WAIT)

    asyncio.run(go())


def test_the_agent_services_announce_connect_lifecycle_and_disconnect(alice):
    """What the agent's control socket records (connectivity.agents) reaches the owner's pages."""
    from workspaces.connectivity import agents

    ws = create(alice, "dev")
    run_to_end(ws.latest_build.job_id)
    resource = WorkspaceResource.objects.create(
        job_id=ws.latest_build.job_id, transition="start", type="terraform_data", name="vm"
    )
    agent = WorkspaceAgent.objects.create(resource=resource, name="main", token_hash="0" * 64)
    headers = bearer(alice)

    async def go():
        comm = await connect(PATH, headers)
        await subscribed(comm)
        holder = {}
        in_thread(lambda: holder.update(at=agents.agent_connected(agent)))
        assert (await next_event(comm))["status"] == "connected"
        in_thread(agents.report_lifecycle, agent, "starting")
        assert (await next_event(comm))["lifecycle"] == "starting"
        in_thread(agents.agent_disconnected, agent, connected_at=holder["at"])
        assert (await next_event(comm))["status"] == "disconnected"
        in_thread(lambda: agents.agent_connected(agent))
        await next_event(comm)
        in_thread(agents.mark_inactive, -60)  # everyone is silent "for too long"
        assert (await next_event(comm))["status"] == "disconnected"
        await comm.send_input({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(asyncio.shield(comm.future), WAIT)

    asyncio.run(go())


def test_signed_out_and_suspended_are_refused(alice, system):
    headers = bearer(alice)
    accounts.suspend_user(alice, actor=system, reason="test")

    async def go():
        anonymous = await connect(PATH)
        assert (await closed(anonymous))["code"] == 4401
        suspended = await connect(PATH, headers)
        assert (await closed(suspended))["code"] in {4401, 4403}

    asyncio.run(go())
