"""Losing access ends what is already open, within 5 s and on every replica, and it is audited.

Two real server replicas (uvicorn as `portal server` runs it), a real agent connected to replica
A, and a user's terminals, SSH, port-forward, app WebSocket and long app responses, events
sockets and log follow open on both replicas. Then a user is suspended, a token revoked, a
session signed out, a role removed, a workspace deleted: what depended on it closes with a
reason, and what did not stays open.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from websockets.exceptions import ConnectionClosed

from portal.accounts import services as accounts
from portal.accounts.choices import UserStatus
from portal.accounts.models import User
from tests.conftest import PASSWORD
from tests.relay.replicas import Replica
from tests.security.live_streams import (
    DEADLINE,
    OPEN_TIMEOUT,
    _open,
    _stream_url,
    api,
    app_server,
    app_socket,
    assert_all_closed,
    build_logs,
    closures,
    echoes,
    events,
    port_forward,
    run,
    ssh,
    terminal,
)
from workspaces import tasks
from workspaces.models import WorkspaceAgent

pytestmark = pytest.mark.django_db(transaction=True)


def test_suspending_a_user_closes_all_they_had_open_on_every_replica(site):
    a, b, agent = site.a, site.b, site.agent
    alice = {"token": site.tokens["alice"]}

    async def go():
        async with app_server(agent):
            conns = [
                await terminal(a, agent, **alice),
                await terminal(b, agent, **alice),
                await ssh(b, agent, **alice),
                await port_forward(b, agent, site.echo.port, **alice),
                await app_socket(b, site.workspace, **alice),
                await events(a, **alice),
                await events(b, **alice),
                await build_logs(b, site.running_build, **alice),
            ]
            # The same actions on someone else close nothing of hers.
            async with api(b, site.tokens["bob"]) as bob:
                r = await bob.delete("/users/me/tokens/revocation")
                assert r.status_code == 204, r.text
            await delete_workspace(site.bob_workspace, site.tokens["admin"], a)
            async with api(a, site.tokens["admin"]) as admin:
                r = await admin.put("/users/bob/roles", json={"roles": ["auditor"]})
                assert r.status_code == 200, r.text
                r = await admin.put("/users/bob/status", json={"status": "suspended"})
                assert r.status_code == 200, r.text
            await asyncio.sleep(2)  # time enough for a wrong closure to show
            for conn in conns:
                await conn.assert_alive()
            await echoes(conns[3])
            await conns[0].ws.send(b"echo still-$((6*7))\r")
            await conns[0].wait_for(lambda m: isinstance(m, bytes) and b"still-42" in m)

            async with api(b, site.tokens["admin"]) as admin:
                r = await admin.put("/users/alice/status", json={"status": "suspended"})
                assert r.status_code == 200, r.text
            await assert_all_closed(conns, 4403, "Your account was suspended.")
            with pytest.raises(ConnectionClosed):  # her terminal runs nothing more
                await conns[0].ws.send(b"echo too-late\r")

            # And coming back is refused.
            again = await _open("stream again", _stream_url(b, agent, "kind=tcp&port=9"), **alice)
            code, _ = await again.closed(within=OPEN_TIMEOUT)
            assert code in {4403, 4404}
            again = await _open("events again", f"{a.ws_url}/api/v2/users/me/events", **alice)
            assert (await again.closed(within=OPEN_TIMEOUT))[0] == 4403

    run(go())
    entries = closures(user="alice")
    assert sorted(e.additional_fields["connection"] for e in entries) == sorted(
        ["terminal", "terminal", "ssh", "port-forward", "app", "events", "events", "build-logs"]
    )
    for entry in entries:
        assert entry.actor_username == "admin"
        assert entry.additional_fields["cause"] == "user_suspended"
        assert entry.additional_fields["reason"] == "Your account was suspended."
        assert entry.status_code == 403
    assert closures(user="bob") == []  # bob had nothing open


async def delete_workspace(workspace, token: str, replica) -> None:
    """A delete build through the API, run by a provisioner here (an orphan delete: nothing to
    destroy, the agent keeps running, so only Portal can cut what it had open)."""
    async with api(replica, token) as client:
        r = await client.post(
            f"/workspaces/{workspace.pk}/builds", json={"transition": "delete", "orphan": True}
        )
        assert r.status_code == 201, r.text
        job_id = r.json()["job_id"]

    def work() -> None:
        tasks.run_acquired(job_id, "revocation-test-worker", {})

    await database_sync_to_async(work)()


def test_revoking_a_token_or_signing_out_closes_what_it_opened(site):
    a, b, agent = site.a, site.b, site.agent
    api_token = {"token": site.tokens["alice"]}
    _, _, session_token = accounts.login(login="alice", password=PASSWORD)
    browser = Client()
    browser.force_login(site.alice)
    cookie = browser.cookies["sessionid"].value

    async def go():
        by_token = [
            await terminal(b, agent, **api_token),
            await events(a, **api_token),
        ]
        by_session_token = [
            await port_forward(b, agent, site.echo.port, token=session_token),
            await events(b, token=session_token),
        ]
        by_browser = [
            await events(a, cookie=cookie),
            await terminal(b, agent, cookie=cookie),
        ]

        async with api(a, session_token) as client:
            r = await client.delete("/users/me/tokens/revocation")
            assert r.status_code == 204, r.text
        await assert_all_closed(by_token, 4401, "Your token was revoked. Sign in again.")
        for conn in by_session_token + by_browser:
            await conn.assert_alive()

        async with api(b, session_token) as client:
            r = await client.post("/users/logout")
            assert r.status_code in {200, 204}, r.text
        await assert_all_closed(by_session_token, 4401, "You signed out. Sign in again.")
        for conn in by_browser:
            await conn.assert_alive()

        await database_sync_to_async(browser.post)("/logout")
        await assert_all_closed(by_browser, 4401, "You signed out. Sign in again.")

    run(go())
    causes = sorted(e.additional_fields["cause"] for e in closures(expect=6, user="alice"))
    assert causes == ["session_ended"] * 2 + ["signed_out"] * 2 + ["token_revoked"] * 2


def test_deleting_a_workspace_closes_its_streams_and_cuts_its_agent(site):
    a, b, agent = site.a, site.b, site.agent
    alice = {"token": site.tokens["alice"]}

    async def go():
        async with app_server(agent):
            streams = [
                await terminal(b, agent, **alice),
                await port_forward(a, agent, site.echo.port, **alice),
                await app_socket(b, site.workspace, **alice),
            ]
            unrelated = [await events(b, **alice), await build_logs(a, site.running_build, **alice)]
            await delete_workspace(site.workspace, site.tokens["alice"], a)
            started = time.monotonic()
            await assert_all_closed(streams, 4404, "The workspace was deleted.")
            for conn in unrelated:  # her account and her other workspace are still there
                await conn.assert_alive()
            # The agent's token died with the workspace: its control socket is cut too.
            while (await database_sync_to_async(_disconnected)(agent)) is None:
                assert time.monotonic() - started < DEADLINE, "the agent is still connected"
                await asyncio.sleep(0.1)

    run(go())
    entries = closures(user="alice")
    assert sorted(e.additional_fields["connection"] for e in entries) == [
        "app",
        "port-forward",
        "terminal",
    ]
    assert {(e.actor_username, e.additional_fields["cause"]) for e in entries} == {
        ("alice", "workspace_deleted")
    }


def _disconnected(agent):
    return WorkspaceAgent.objects.values_list("disconnected_at", flat=True).get(pk=agent.pk)


def test_removing_the_role_an_owner_connected_by_closes_that_connection(site):
    """PORTAL_OWNERS_MAY_CONNECT: carol, an owner, has a terminal in alice's workspace."""
    a, b, agent = site.a, site.b, site.agent
    carol = {"token": site.tokens["carol"]}

    async def go():
        as_owner = await terminal(b, agent, **carol)
        others = [
            await events(a, **carol),
            await terminal(a, agent, token=site.tokens["alice"]),
        ]
        async with api(a, site.tokens["admin"]) as admin:
            # Another of alice's roles changing touches nothing.
            r = await admin.put("/users/alice/roles", json={"roles": ["auditor"]})
            assert r.status_code == 200, r.text
            await asyncio.sleep(1)
            await as_owner.assert_alive()
            r = await admin.put("/users/carol/roles", json={"roles": ["template-admin"]})
            assert r.status_code == 200, r.text
        code, reason = await as_owner.closed()
        assert (code, reason) == (
            4403,
            "You no longer have access: Only the workspace owner may connect to its agent.",
        )
        for conn in others:
            await conn.assert_alive()

    run(go())
    [entry] = closures(user="carol")
    assert entry.additional_fields["connection"] == "terminal"
    assert entry.additional_fields["cause"] == "access_lost"
    assert entry.actor_username == "admin"
    assert closures(user="alice") == []


def test_a_lost_announcement_or_an_expired_token_is_caught_by_the_periodic_recheck(
    transactional_db, make_user
):
    """Redis lost the message (here: the status changed behind the services' back), or a token
    expired (nobody announces that): each process's re-check still closes the connection."""
    server = Replica("recheck", PORTAL_REVOCATION_RECHECK_SECONDS="1").start()
    try:
        server.wait_ready()
        alice, dave = make_user(username="alice"), make_user(username="dave")
        _, token = accounts.create_token(alice, actor=alice, name="recheck")
        short = timedelta(seconds=4)
        expiring, dave_token = accounts.create_token(dave, actor=dave, name="short", lifetime=short)

        async def go():
            conn = await events(server, token=token)
            daves = await events(server, token=dave_token)
            await database_sync_to_async(User.objects.filter(pk=alice.pk).update)(
                status=UserStatus.SUSPENDED
            )
            assert await conn.closed() == (4403, "Your account was suspended.")
            await asyncio.sleep(max(0.0, (expiring.expires_at - timezone.now()).total_seconds()))
            assert await daves.closed() == (4401, "Your token expired. Sign in again.")

        run(go())
        [entry] = closures(user="alice")
        assert entry.actor_username == "portal-system"
        assert entry.additional_fields["cause"] == "user_suspended"
        [entry] = closures(user="dave")
        assert entry.additional_fields["cause"] == "token_expired"
    finally:
        server.stop()
        close_old_connections()
