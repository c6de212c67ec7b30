"""Listening ports through the app proxy: path URLs (owner only), port hosts, shares, HTTP and
WebSockets, over the real ASGI app with a fake agent bridging to a real local app."""

from __future__ import annotations

import json

import httpx
import pytest
from channels.db import database_sync_to_async

from portal.audit.models import AuditEntry
from portal.errors import Forbidden
from tests.agents.helpers import make_agent
from tests.relay.test_app_proxy import TOKEN, HttpAgent
from tests.relay.test_app_proxy_hosts import DOMAIN, Session, configure
from tests.relay.test_app_proxy_ws import App, Browser, auth, run, session_cookie
from workspaces import port_sharing
from workspaces.models import WorkspacePortShare

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice(make_user):
    return make_user(username="alice")


@pytest.fixture
def bob(make_user):
    return make_user(username="bob")


@pytest.fixture
def agent(alice):
    return make_agent(alice, TOKEN, name="dev")


@pytest.fixture
def wildcard():
    configure(f"http://*.{DOMAIN}")
    yield
    configure(None)


def with_app(scenario):
    """Run `scenario(session, app)` with a real app listening and the agent connected."""

    async def go():
        transport = httpx.ASGITransport(app=application(), client=("10.1.2.3", 5000))
        async with httpx.AsyncClient(transport=transport) as client, App() as app, HttpAgent():
            result = await scenario(Session(client), app)
            await app.drained()
            return result

    return run(go())


def application():
    from portal.asgi import application as asgi

    return asgi


def host(port: int) -> str:
    return f"http://{port}--main--dev--alice.{DOMAIN}"


def share(agent, port: int, level: str, actor):
    workspace = agent.resource.job.build.workspace
    return port_sharing.share_port(
        workspace, actor=actor, agent_name="main", port=port, share_level=level
    )


def test_the_owner_opens_a_port_by_path_and_nobody_else_learns_it_exists(agent, alice, bob):
    as_alice, as_bob = auth(alice), auth(bob)

    async def scenario(session, app):
        mine = await session.get(f"http://portal.test/@alice/dev/ports/{app.port}/x?a=1", as_alice)
        short = await session.get(f"http://portal.test/@alice/dev.main/ports/{app.port}", as_alice)
        theirs = await session.get(f"http://portal.test/@alice/dev/ports/{app.port}/x", as_bob)
        nothing = await session.get("http://portal.test/@alice/dev/ports/1/x", as_bob)
        anonymous = await session.get(f"http://portal.test/@alice/dev/ports/{app.port}/x")
        return mine, short, theirs, nothing, anonymous, app.port

    mine, short, theirs, nothing, anonymous, port = with_app(scenario)
    assert mine.status_code == 200 and mine.json()["path"] == "/x?a=1"
    assert short.status_code == 308
    assert short.headers["location"] == f"/@alice/dev.main/ports/{port}/"
    assert theirs.status_code == 404 and nothing.status_code == 404
    assert theirs.text == nothing.text  # the same refusal whether the port exists or not
    assert anonymous.status_code == 401
    entry = AuditEntry.objects.filter(action="open", resource_type="workspace_app").first()
    assert entry.resource_target.startswith("alice/dev/port-")


@pytest.mark.parametrize("port", ["0", "65536", "99999", "http", "-1"])
def test_a_port_out_of_range_is_no_port(agent, alice, port):
    as_alice = auth(alice)

    async def scenario(session, app):
        return await session.get(f"http://portal.test/@alice/dev/ports/{port}/", as_alice)

    assert with_app(scenario).status_code == 404


def test_a_websocket_echoes_through_the_ports_path(agent, alice):
    headers = {**auth(alice), "Origin": "http://portal.test"}

    async def scenario(session, app):
        browser = Browser(f"/@alice/dev/ports/{app.port}/headers", headers)
        await browser.open()
        seen = json.loads(await browser.receive())
        await browser.send("hello")
        echoed = await browser.receive()
        await browser.send(b"\x00\x01")
        binary = await browser.receive()
        await browser.hang_up()
        return seen, echoed, binary

    seen, echoed, binary = with_app(scenario)
    assert seen["path"] == "/headers" and echoed == "hello" and binary == b"\x00\x01"
    assert "authorization" not in seen["headers"]


def test_a_public_share_lets_anyone_in_on_the_port_host_but_never_on_the_path(
    agent, alice, wildcard
):
    async def scenario(session, app):
        await database_sync_to_async(share)(agent, app.port, "public", alice)
        on_host = await session.get(host(app.port) + "/hello")
        ws = Browser("/ws", {"Origin": host(app.port)}, host=host(app.port).split("//")[1])
        await ws.open()
        await ws.send("over the port host")
        echoed = await ws.receive()
        await ws.hang_up()
        by_path = await session.get(f"http://portal.test/@alice/dev/ports/{app.port}/hello")
        other = await session.get(host(app.port + 1 if app.port < 65535 else 1) + "/")
        return on_host, echoed, by_path, other

    on_host, echoed, by_path, other = with_app(scenario)
    assert on_host.status_code == 200 and on_host.json()["path"] == "/hello"
    assert echoed == "over the port host"
    assert by_path.status_code == 401  # path URLs are their owner's, whatever is shared
    assert other.status_code == 401  # an unshared port: sign in (the owner's only)


def test_an_authenticated_share_lets_any_signed_in_user_in_on_the_port_host(
    agent, alice, bob, wildcard
):
    as_bob = auth(bob)

    async def scenario(session, app):
        await database_sync_to_async(share)(agent, app.port, "authenticated", alice)
        bobs = await session.get(host(app.port) + "/", as_bob)
        anonymous = await session.get(host(app.port) + "/")
        bob_by_path = await session.get(f"http://portal.test/@alice/dev/ports/{app.port}/", as_bob)
        return bobs, anonymous, bob_by_path

    bobs, anonymous, bob_by_path = with_app(scenario)
    assert bobs.status_code == 200
    assert anonymous.status_code == 401
    assert bob_by_path.status_code == 404


def test_unsharing_refuses_at_once_and_every_change_is_audited(agent, alice, wildcard):
    async def scenario(session, app):
        await database_sync_to_async(share)(agent, app.port, "public", alice)
        before = await session.get(host(app.port) + "/")
        await database_sync_to_async(share)(agent, app.port, "authenticated", alice)
        lowered = await session.get(host(app.port) + "/")
        workspace = agent.resource.job.build.workspace
        await database_sync_to_async(port_sharing.unshare_port)(
            workspace, actor=alice, agent_name="main", port=app.port
        )
        after = await session.get(host(app.port) + "/")
        return before, lowered, after

    before, lowered, after = with_app(scenario)
    assert before.status_code == 200
    assert lowered.status_code == 401 and after.status_code == 401
    entries = AuditEntry.objects.filter(resource_type="workspace_port_share").order_by("id")
    assert [e.action for e in entries] == ["create", "write", "delete"]
    assert entries[0].additional_fields["share_level"] == "public"
    assert entries[1].diff["share_level"] == {
        "old": "public",
        "new": "authenticated",
        "secret": False,
    }
    assert not WorkspacePortShare.objects.exists()


def test_the_templates_maximum_limits_new_shares_and_caps_existing_ones(agent, alice, wildcard):
    template = agent.resource.job.build.workspace.template

    async def scenario(session, app):
        await database_sync_to_async(share)(agent, app.port, "public", alice)
        template.max_port_share_level = "authenticated"
        await database_sync_to_async(template.save)(update_fields=["max_port_share_level"])
        return await session.get(host(app.port) + "/")

    assert with_app(scenario).status_code == 401  # honoured only up to authenticated now
    with pytest.raises(Forbidden, match="up to 'authenticated'"):
        share(agent, 4000, "public", alice)
    assert share(agent, 4000, "authenticated", alice).share_level == "authenticated"


def test_only_the_owner_or_an_admin_shares(agent, alice, bob, make_user):
    from portal.errors import NotFound

    with pytest.raises(NotFound):
        share(agent, 8080, "public", bob)
    admin = make_user("owner", username="root")
    assert share(agent, 8080, "public", admin).share_level == "public"


def test_a_browser_signed_in_to_portal_opens_its_port_by_path(agent, alice):
    cookie = {"Cookie": session_cookie(alice), "Accept": "text/html"}

    async def scenario(session, app):
        return await session.get(f"http://portal.test/@alice/dev.main/ports/{app.port}/", cookie)

    response = with_app(scenario)
    assert response.status_code == 200, (response.status_code, response.headers, response.text)


def test_unsharing_closes_a_visitors_open_websocket_on_the_port_host(agent, alice, wildcard):
    from portal.revocation.registry import registry

    async def scenario(session, app):
        await database_sync_to_async(share)(agent, app.port, "public", alice)
        name = host(app.port).split("//")[1]
        ws = Browser("/ws", {"Origin": host(app.port)}, host=name)
        await ws.open()
        await ws.send("still here")
        assert await ws.receive() == "still here"
        workspace = agent.resource.job.build.workspace
        await database_sync_to_async(port_sharing.unshare_port)(
            workspace, actor=alice, agent_name="main", port=app.port
        )
        # The announcement closes it; the periodic re-check would too (run now, not waited on).
        await registry().sweep()
        return await ws.next()

    closed = with_app(scenario)
    assert closed["type"] == "websocket.close"
    assert (closed["code"], closed["reason"]) == (4403, "This port is no longer shared.")
    entry = AuditEntry.objects.filter(action="close").latest("id")
    assert entry.resource_type == "workspace_app"
    # alice when the announcement closed it, nobody when the re-check got there first.
    assert entry.actor in (alice, None)


def test_a_signed_in_browser_reaches_a_shared_port_through_a_one_time_token(
    agent, alice, bob, wildcard
):
    cookie = {"Cookie": session_cookie(bob), "Accept": "text/html"}

    async def scenario(session, app):
        await database_sync_to_async(share)(agent, app.port, "authenticated", alice)
        first = await session.get(host(app.port) + "/page", {"Accept": "text/html"})
        to = host(app.port) + "/page"
        signed = await session.get(f"http://portal.test/@/app-auth?to={to}", cookie)
        landing = await session.get(signed.headers["location"])
        page = await session.get(host(app.port) + landing.headers["location"])
        return first, signed, landing, page

    first, signed, landing, page = with_app(scenario)
    assert first.status_code == 302 and "/@/app-auth?to=" in first.headers["location"]
    assert signed.status_code == 302 and "portal_app_token=" in signed.headers["location"]
    assert landing.headers["set-cookie"].startswith("portal_app_session=")
    assert page.status_code == 200 and page.json()["path"] == "/page"
