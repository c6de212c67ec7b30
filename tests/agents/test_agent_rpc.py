"""The agent control socket over the real ASGI application: auth, manifest, lifecycle, logs."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from portal import config
from portal.accounts import services
from tests.agents.helpers import SCRIPTS, FakeAgent, agent_headers, make_agent
from tests.workspaces.test_websocket import WAIT, bearer
from workspaces.connectivity import agents
from workspaces.models import WorkspaceAgent, WorkspaceAgentLog, WorkspaceApp

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "agent-secret-token"


@pytest.fixture
def alice(make_user):
    return make_user(username="alice")


@pytest.fixture
def agent(alice):
    return make_agent(alice, TOKEN)


def fresh(agent) -> WorkspaceAgent:
    return WorkspaceAgent.objects.get(pk=agent.pk)


def test_hello_gets_the_manifest_and_the_agent_shows_connected(agent, alice):
    async def go():
        fake = FakeAgent(TOKEN)
        assert await fake.open() is None
        await fake.send({"type": "hello", "version": "1.2.3", "os": "linux", "arch": "amd64"})
        manifest = await fake.receive()
        row = await database_sync_to_async(fresh)(agent)
        await fake.hang_up()
        return manifest, row

    manifest, row = asyncio.run(go())
    ws = agent.resource.job.build.workspace
    assert manifest == {
        "type": "manifest",
        "agent_id": str(agent.id),
        "name": "main",
        "workspace_id": str(ws.id),
        "workspace_name": ws.name,
        "owner_name": "alice",
        "directory": "/home/coder",
        "env": {"EDITOR": "vim"},
        "startup_script": "echo hello",
        "scripts": SCRIPTS,
        "apps": [
            {
                "slug": "preview",
                "url": "http://localhost:8080",
                "healthcheck_url": "http://localhost:8080/healthz",
                "healthcheck_interval": 5,
                "healthcheck_threshold": 3,
            }
        ],
    }
    assert row.version == "1.2.3"
    assert row.first_connected_at and row.last_connected_at and row.last_seen_at
    assert agents.agent_status(row) == "connected"


@pytest.mark.parametrize(
    ("token", "why"),
    [(None, "Authorization"), ("wrong-token", "not valid")],
)
def test_missing_or_wrong_token_is_closed_with_4401(agent, token, why):
    async def go():
        return await FakeAgent(token).open()

    closed = asyncio.run(go())
    assert closed["code"] == 4401
    assert why in closed["reason"]
    assert fresh(agent).last_connected_at is None


def test_token_of_a_deleted_workspace_is_refused(agent):
    workspace = agent.resource.job.build.workspace
    workspace.deleted_at = timezone.now()
    workspace.save(update_fields=["deleted_at"])

    async def go():
        return await FakeAgent(TOKEN).open()

    assert asyncio.run(go())["code"] == 4401


def test_a_user_token_is_refused_on_the_agent_route(agent, alice):
    user_token = bearer(alice)[0][1].decode().removeprefix("Bearer ")

    async def go():
        return await FakeAgent(user_token).open()

    assert asyncio.run(go())["code"] == 4401


def test_the_agent_token_is_refused_by_the_user_api(agent, anon):
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert anon.get("/api/v2/users/me").status_code == 401
    assert anon.get(f"/api/v2/workspaceagents/{agent.id}").status_code == 401


def test_the_agent_token_is_refused_on_user_websockets(agent):
    from tests.workspaces.test_websocket import WebsocketCommunicator, application

    build_id = agent.resource.job.build.id

    async def go():
        comm = WebsocketCommunicator(
            application, f"/api/v2/workspacebuilds/{build_id}/logs", headers=agent_headers(TOKEN)
        )
        await comm.send_input({"type": "websocket.connect"})
        assert (await comm.receive_output(WAIT))["type"] == "websocket.accept"
        return await comm.receive_output(WAIT)

    assert asyncio.run(go())["code"] == 4401


def test_the_newest_start_build_of_the_token_wins(agent, alice):
    # A rebuild records a new row with the same token: that one authenticates.
    from tests import factories

    ws = agent.resource.job.build.workspace
    build = factories.WorkspaceBuildFactory(workspace=ws)
    resource = type(agent.resource).objects.create(
        job_id=build.job_id, transition="start", type="terraform_data", name="vm"
    )
    newer = WorkspaceAgent.objects.create(
        resource=resource, name="main", token_hash=agent.token_hash
    )
    assert agents.authenticate_agent(TOKEN).pk == newer.pk
    assert agents.authenticate_agent("other") is None


def test_while_a_newer_start_build_runs_the_token_is_refused_not_given_the_old_row(agent):
    """The new build's agent dials before its rows exist: it must wait (it retries), not take
    over the previous start's row, which would then show connected while the page shows the
    new row forever connecting."""
    from tests import factories

    ws = agent.resource.job.build.workspace
    stop = factories.WorkspaceBuildFactory(workspace=ws, transition="stop")
    assert agents.authenticate_agent(TOKEN).pk == agent.pk  # a stop build: still the agent
    running = factories.WorkspaceBuildFactory(workspace=ws, transition="start")
    assert running.build_number > stop.build_number
    assert agents.authenticate_agent(TOKEN) is None
    assert agents.agent_id_for_token(TOKEN) is None
    resource = type(agent.resource).objects.create(
        job_id=running.job_id, transition="start", type="terraform_data", name="vm"
    )
    new = WorkspaceAgent.objects.create(resource=resource, name="main", token_hash=agent.token_hash)
    assert agents.agent_id_for_token(TOKEN) == new.pk


def test_lifecycle_starting_then_ready_is_recorded(agent):
    async def go():
        fake = FakeAgent(TOKEN)
        assert await fake.open() is None
        await fake.send({"type": "lifecycle", "state": "starting"})
        await fake.send({"type": "lifecycle", "state": "ready", "reason": "startup done"})
        # An invalid move: ready -> off must pass through shutting_down.
        await fake.send({"type": "lifecycle", "state": "off"})
        error = await fake.receive()
        await fake.send({"type": "lifecycle", "state": "sleeping"})
        unknown = await fake.receive()
        await fake.hang_up()
        return error, unknown

    error, unknown = asyncio.run(go())
    assert error["type"] == "error"
    assert "cannot go from ready to off" in error["message"]
    assert unknown["type"] == "error" and "sleeping" in unknown["message"]
    row = fresh(agent)
    assert (row.lifecycle_state, row.lifecycle_reason) == ("ready", "startup done")
    assert row.started_at is not None and row.ready_at is not None
    assert row.started_at <= row.ready_at


def test_the_expanded_directory_comes_with_starting_and_only_as_an_absolute_path(agent, alice):
    async def go(directory):
        fake = FakeAgent(TOKEN)
        assert await fake.open() is None
        await fake.send({"type": "lifecycle", "state": "starting", "directory": directory})
        await fake.send({"type": "lifecycle", "state": "ready"})
        await fake.hang_up()

    asyncio.run(go("../relative"))
    assert fresh(agent).expanded_directory == ""
    WorkspaceAgent.objects.filter(pk=agent.pk).update(lifecycle_state="created")
    asyncio.run(go("/home/alice/project"))
    assert fresh(agent).expanded_directory == "/home/alice/project"


def test_the_agent_gets_its_owners_git_key_and_not_once_they_are_suspended(
    agent, alice, owner, client_for
):
    async def ask():
        fake = FakeAgent(TOKEN)
        assert await fake.open() is None
        await fake.send({"type": "gitsshkey", "id": 7})
        answer = await fake.receive()
        await fake.hang_up()
        return answer

    answer = asyncio.run(ask())
    public = client_for(alice).get("/api/v2/users/me/gitsshkey").json()["public_key"]
    assert (answer["type"], answer["id"], answer["public_key"]) == ("gitsshkey", 7, public)
    assert answer["private_key"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    # A dormant owner (not seen for a while, refused nothing) keeps it.
    services.set_status(alice, "dormant", actor=services.system_actor())
    assert asyncio.run(ask())["public_key"] == public
    services.suspend_user(alice, actor=owner)
    answer = asyncio.run(ask())
    assert "private_key" not in answer and "cannot use git keys" in answer["error"]


def test_bad_messages_get_errors_and_the_socket_stays_open(agent):
    async def go():
        fake = FakeAgent(TOKEN)
        assert await fake.open() is None
        await fake.comm.send_input({"type": "websocket.receive", "text": "not json"})
        bad_json = await fake.receive()
        await fake.send({"type": "teleport"})
        unknown = await fake.receive()
        await fake.send({"type": "ping", "t": 7})
        pong = await fake.receive()
        await fake.hang_up()
        return bad_json, unknown, pong

    bad_json, unknown, pong = asyncio.run(go())
    assert bad_json["type"] == "error" and "JSON" in bad_json["message"]
    assert unknown["type"] == "error" and "teleport" in unknown["message"]
    assert pong == {"type": "pong", "t": 7}


def test_logs_are_stored_published_and_readable_through_the_api(agent, alice, client_for):
    lines = [
        {
            "created_at": "2026-01-02T03:04:05Z",
            "source": "startup_script",
            "level": "info",
            "output": "hello",
        },
        {"source": "dotfiles", "level": "error", "output": "x" * 20000},
        {"source": "dotfiles", "level": "loud", "output": "nul\x00byte"},
    ]

    async def go():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(agents.logs_group_name(agent.id), channel)
        fake = FakeAgent(TOKEN)
        assert await fake.open() is None
        await fake.send({"type": "logs", "logs": lines})
        live = await asyncio.wait_for(layer.receive(channel), WAIT)
        assert await fake.nothing_more()  # no error for an accepted batch
        await fake.hang_up()
        return live

    live = asyncio.run(go())
    assert live["type"] == "agent.logs"
    assert [row["output"][:5] for row in live["logs"]] == ["hello", "xxxxx", "nul\ufffdb"]

    rows = list(WorkspaceAgentLog.objects.filter(agent=agent).order_by("id"))
    assert rows[0].created_at.year == 2026 and rows[0].source == "startup_script"
    assert len(rows[1].output) == agents.MAX_LOG_LINE_CHARS
    assert rows[1].output.endswith("[truncated]") and rows[1].level == "error"
    assert rows[2].level == "info"

    api = client_for(alice)
    r = api.get(f"/api/v2/workspaceagents/{agent.id}/logs")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 3 and body["lifecycle_state"] == "created"
    assert [row["output"][:5] for row in body["results"]] == ["hello", "xxxxx", "nul\ufffdb"]
    assert set(body["results"][0]) == {"id", "created_at", "source", "level", "output"}
    r = api.get(f"/api/v2/workspaceagents/{agent.id}/logs?after={rows[0].id}&limit=1")
    assert r.json()["count"] == 2
    assert [row["id"] for row in r.json()["results"]] == [rows[1].id]


def test_too_many_lines_in_one_message_are_cut_and_the_agent_told(agent, monkeypatch):
    monkeypatch.setattr(agents, "MAX_LOG_LINES_PER_MESSAGE", 2)

    async def go():
        fake = FakeAgent(TOKEN)
        assert await fake.open() is None
        await fake.send({"type": "logs", "logs": [{"output": str(n)} for n in range(5)]})
        error = await fake.receive()
        await fake.hang_up()
        return error

    error = asyncio.run(go())
    assert error["type"] == "error" and "3 were dropped" in error["message"]
    assert list(WorkspaceAgentLog.objects.values_list("output", flat=True)) == ["0", "1"]


def test_app_health_is_recorded(agent):
    async def go():
        fake = FakeAgent(TOKEN)
        assert await fake.open() is None
        await fake.send({"type": "app_health", "slug": "preview", "health": "healthy"})
        await fake.send({"type": "app_health", "slug": "preview", "health": "healthy"})
        await fake.send({"type": "app_health", "slug": "nope", "health": "healthy"})
        error = await fake.receive()
        await fake.hang_up()
        return error

    error = asyncio.run(go())
    assert error["type"] == "error" and "nope" in error["message"]
    assert WorkspaceApp.objects.get(agent=agent).health == "healthy"


def test_hanging_up_sets_disconnected_at(agent):
    async def go():
        fake = FakeAgent(TOKEN)
        assert await fake.open() is None
        await fake.hang_up()

    asyncio.run(go())
    row = fresh(agent)
    assert row.disconnected_at is not None and row.disconnected_at >= row.last_connected_at
    assert agents.agent_status(row) == "disconnected"


def test_an_old_socket_closing_does_not_disconnect_the_new_one(agent):
    async def go():
        old, new = FakeAgent(TOKEN), FakeAgent(TOKEN)
        assert await old.open() is None
        assert await new.open() is None
        await old.hang_up()
        row = await database_sync_to_async(fresh)(agent)
        await new.hang_up()
        return row

    assert agents.agent_status(asyncio.run(go())) == "connected"


def test_mark_inactive_marks_a_silent_agent_disconnected(agent):
    now = timezone.now()
    WorkspaceAgent.objects.filter(pk=agent.pk).update(
        first_connected_at=now - timedelta(minutes=5),
        last_connected_at=now - timedelta(minutes=5),
        last_seen_at=now - timedelta(seconds=20),
    )
    assert agents.agent_status(fresh(agent)) == "timeout"
    assert agents.mark_inactive(timedelta(seconds=60)) == 0
    assert agents.mark_inactive(15) == 1
    row = fresh(agent)
    assert row.disconnected_at is not None
    assert agents.agent_status(row) == "disconnected"
    assert agents.mark_inactive(15) == 0  # already marked


def test_mark_inactive_task(agent):
    from workspaces.connectivity.agent_tasks import mark_inactive_agents

    WorkspaceAgent.objects.filter(pk=agent.pk).update(
        last_connected_at=timezone.now() - timedelta(hours=1),
        last_seen_at=timezone.now() - timedelta(hours=1),
    )
    assert mark_inactive_agents() == 1


def test_status_rule():
    now = timezone.now()
    agent = WorkspaceAgent(name="x")
    assert agents.agent_status(agent, now) == "connecting"
    agent.first_connected_at = agent.last_connected_at = now - timedelta(seconds=30)
    agent.last_seen_at = now - timedelta(seconds=3)
    assert agents.agent_status(agent, now) == "connected"
    agent.last_seen_at = now - timedelta(seconds=16)
    assert agents.agent_status(agent, now) == "timeout"
    agent.disconnected_at = now - timedelta(seconds=10)
    assert agents.agent_status(agent, now) == "disconnected"
    # Reconnected after that disconnection.
    agent.last_connected_at = agent.last_seen_at = now - timedelta(seconds=1)
    assert agents.agent_status(agent, now) == "connected"


def test_pings_refresh_last_seen_and_a_deleted_workspace_hangs_up(agent, monkeypatch, request):
    monkeypatch.setenv("PORTAL_AGENT_INACTIVE_SECONDS", "1")  # last_seen written every 0.5 s
    config.load.cache_clear()
    request.addfinalizer(config.load.cache_clear)
    workspace = agent.resource.job.build.workspace

    def delete_workspace():
        type(workspace).objects.filter(pk=workspace.pk).update(deleted_at=timezone.now())

    async def go():
        fake = FakeAgent(TOKEN)
        assert await fake.open() is None
        first = (await database_sync_to_async(fresh)(agent)).last_seen_at
        await asyncio.sleep(0.6)
        await fake.send({"type": "ping", "t": 1})
        assert await fake.receive() == {"type": "pong", "t": 1}
        assert await fake.nothing_more()
        second = (await database_sync_to_async(fresh)(agent)).last_seen_at
        await database_sync_to_async(delete_workspace)()
        await asyncio.sleep(0.6)
        await fake.send({"type": "ping", "t": 2})
        assert await fake.receive() == {"type": "pong", "t": 2}
        closed = await fake.comm.receive_output(WAIT)
        await fake.hang_up()
        return first, second, closed

    first, second, closed = asyncio.run(go())
    assert second > first
    assert closed["type"] == "websocket.close" and closed["code"] == 4401
    assert fresh(agent).disconnected_at is not None
