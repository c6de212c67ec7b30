"""Workspace apps cannot act as their visitor, and the app proxy tells strangers nothing.

A real server process (uvicorn serving portal.asgi, tests.relay.replicas), the real workspace
agent (`python -m portal_agent`) and a hostile app: its pages try to plant and clear Portal's
cookies over HTTP and in a WebSocket handshake, and echo what reached them.
"""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace
from urllib.parse import urlsplit

import httpx
import pytest
from django.conf import settings
from django.db import close_old_connections, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import serve as ws_serve

from portal.accounts.authentication import TOKEN_HEADER
from portal.accounts.choices import Role
from portal.accounts.services import create_token
from templates_app.models import ImportStatus
from tests.agents.helpers import make_agent
from tests.provisioning.conftest import PORTAL_PROVIDER, import_version, tar_of
from tests.relay.replicas import Replica, free_port, start_agent, stop, wait_connected
from workspaces import app_hosts, app_proxy
from workspaces.models import WorkspaceApp

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "isolation-agent-token"
BIG = b"x" * (64 * 1024 * 1024)  # more than the stream and socket buffers hold
DOMAIN = "apps.portal.test"
# What a hostile app answers with: Portal's cookies (set, nameless, cleared) and one of its own.
HOSTILE_COOKIES = [
    "sessionid=planted-by-the-app; Path=/; HttpOnly",
    "csrftoken=planted-by-the-app; Path=/",
    f"{app_hosts.COOKIE_NAME}=planted-by-the-app; Path=/",
    "=sessionid=nameless-so-sent-as-sessionid; Path=/",  # a nameless cookie
    "sessionid=; Path=/; Max-Age=0",  # clearing the visitor's session
    # Tossed from an app host to its parent domain, which may be Portal's.
    "csrftoken=tossed-by-the-app; Domain=portal.test; Path=/",
    "theme=dark; Path=/",  # the app's own: it passes
]


class HostileApp:
    """HTTP and WebSocket on one port: every answer tries to set Portal's cookies; plain GETs
    echo the request's path and headers as JSON; WebSockets echo messages."""

    def __init__(self):
        self.server = ws_serve(
            self._echo, "127.0.0.1", 0, process_request=self._http, process_response=self._plant
        )
        self.port = self.server.socket.getsockname()[1]
        self.url = f"http://localhost:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def _with_cookies(response: Response) -> Response:
        for cookie in HOSTILE_COOKIES:
            response.headers["Set-Cookie"] = cookie  # Headers add: one header per cookie
        response.headers["Clear-Site-Data"] = '"cookies", "storage"'
        return response

    def _http(self, connection, request):
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        if request.path.startswith("/big"):
            body = BIG
            response = Response(
                200, "OK", Headers({"Content-Type": "application/octet-stream"}), body
            )
            response.headers["Content-Length"] = str(len(body))
            return response
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        body = json.dumps({"path": request.path, "headers": headers}).encode()
        response = Response(
            200, "OK", Headers({"Content-Type": "application/json"}), body
        )  # fmt: skip
        response.headers["Content-Length"] = str(len(body))
        return self._with_cookies(response)

    def _plant(self, connection, request, response):
        return self._with_cookies(response) if response.status_code == 101 else response

    @staticmethod
    def _echo(ws):
        for message in ws:
            ws.send(message)

    def close(self):
        self.server.shutdown()
        self.thread.join(10)


@pytest.fixture(scope="module")
def hostile():
    app = HostileApp()
    yield app
    app.close()


def _replica(name: str, **env: str):
    replica = Replica(name, **env)
    # Subdomain apps on hosts of a domain apart from Portal's; the proxy keeps the Host header.
    replica.extra_env["PORTAL_WILDCARD_ACCESS_URL"] = f"http://*.{DOMAIN}:{replica.port}"
    replica.start()
    try:
        yield replica.wait_ready()
    finally:
        replica.stop()
        close_old_connections()


@pytest.fixture(scope="module")
def server(django_db_setup):
    """The defaults: path apps are their owners' only."""
    yield from _replica("isolation")


@pytest.fixture(scope="module")
def dangerous_server(django_db_setup):
    """An operator who turned every path-app risk on."""
    yield from _replica(
        "isolation-dangerous",
        PORTAL_DANGEROUS_ALLOW_PATH_APP_SHARING="true",
        PORTAL_DANGEROUS_ALLOW_PATH_APP_SITE_OWNER_ACCESS="true",
        PORTAL_OWNERS_MAY_CONNECT="true",
    )


@pytest.fixture
def people(make_user):
    alice = make_user(username="alice")
    return SimpleNamespace(
        alice=alice,
        bob=make_user(username="bob"),
        root=make_user(Role.OWNER, username="root"),
        tadmin=make_user(Role.TEMPLATE_ADMIN, username="tadmin"),
    )


def _apps(agent, url: str) -> None:
    """alice's apps: `preview` (owner), `team` (authenticated) and `open` (public) on paths,
    `shared` (authenticated) on its own subdomain, all at `url`."""
    WorkspaceApp.objects.filter(agent=agent, slug="preview").update(url=url)
    WorkspaceApp.objects.create(agent=agent, slug="team", url=url, share="authenticated")
    WorkspaceApp.objects.create(agent=agent, slug="open", url=url, share="public")
    WorkspaceApp.objects.create(
        agent=agent, slug="shared", url=url, share="authenticated", subdomain=True
    )


def _workspace(people, replica, url: str):
    """alice's workspace `dev` with the real agent connected to `replica`."""
    agent = make_agent(people.alice, TOKEN, name="dev")
    _apps(agent, url)
    proc = start_agent(replica.url, TOKEN)
    try:
        wait_connected(agent)
        yield agent
    finally:
        stop(proc)


@pytest.fixture
def workspace(people, server, hostile):
    yield from _workspace(people, server, hostile.url)


@pytest.fixture
def dangerous_workspace(people, dangerous_server, hostile):
    yield from _workspace(people, dangerous_server, hostile.url)


def bearer(user) -> dict:
    _, token = create_token(user, actor=user, name="isolation")
    return {"Authorization": f"Bearer {token}"}


def browser(replica, user) -> httpx.Client:
    """A browser signed in to Portal: its jar holds Portal's session and CSRF cookies."""
    django = Client()
    django.force_login(user)
    client = httpx.Client(base_url=replica.url, timeout=30, follow_redirects=False)
    host = urlsplit(replica.url).hostname
    client.cookies.set(settings.SESSION_COOKIE_NAME, django.cookies["sessionid"].value, host)
    client.cookies.set(settings.CSRF_COOKIE_NAME, "the-visitors-csrf-token", host)
    return client


def portal_cookies(client: httpx.Client) -> dict[str, str]:
    return {c.name: c.value for c in client.cookies.jar}


# ---------------------------------------------------------------- cookies and credentials


def _assert_jar_untouched(client: httpx.Client, before: dict) -> None:
    after = portal_cookies(client)
    assert after.get("theme") == "dark"  # the app's own cookie arrived
    assert {k: v for k, v in after.items() if k != "theme"} == before
    # Still signed in, with the very session the browser had.
    assert client.get("/api/v2/users/me").json()["username"] == "alice"


def test_a_path_apps_pages_cannot_set_or_clear_portals_cookies(workspace, server, people):
    client = browser(server, people.alice)
    before = portal_cookies(client)
    response = client.get("/@alice/dev/apps/preview/page", headers={"Accept": "text/html"})
    assert response.status_code == 200, response.text
    assert "clear-site-data" not in response.headers
    assert [c.split("=", 1)[0] for c in response.headers.get_list("set-cookie")] == ["theme"]
    _assert_jar_untouched(client, before)
    # And Portal's credentials never reached the app: not the session or CSRF cookie, not a
    # token in either header Portal reads, while the app's own cookie did.
    token = bearer(people.alice)["Authorization"].split()[1]
    client.cookies.set("theme", "dark", urlsplit(server.url).hostname)
    for headers in ({"Authorization": f"Bearer {token}"}, {TOKEN_HEADER: token}, {}):
        seen = client.get("/@alice/dev/apps/preview/echo", headers=headers).json()["headers"]
        assert token not in json.dumps(seen)
        assert {"authorization", TOKEN_HEADER.lower()}.isdisjoint(seen)
        assert seen["cookie"] == "theme=dark", seen["cookie"]


def test_whatever_the_settings_no_app_sets_portals_cookies(
    dangerous_workspace, dangerous_server, people
):
    # bob opens alice's shared path app, as the operator allowed: his cookies stay his.
    client = browser(dangerous_server, people.bob)
    before = portal_cookies(client)
    response = client.get("/@alice/dev/apps/team/x")
    assert response.status_code == 200, response.text
    assert [c.split("=", 1)[0] for c in response.headers.get_list("set-cookie")] == ["theme"]
    after = portal_cookies(client)
    assert {k: v for k, v in after.items() if k != "theme"} == before
    assert client.get("/api/v2/users/me").json()["username"] == "bob"


def test_a_websocket_handshake_cannot_set_portals_cookies(workspace, server, people):
    headers = bearer(people.alice)
    url = server.url.replace("http://", "ws://") + "/@alice/dev/apps/preview/ws"
    with ws_connect(url, additional_headers=headers, open_timeout=30) as ws:
        cookies = ws.response.headers.get_all("Set-Cookie")
        ws.send("hello")
        assert ws.recv(timeout=30) == "hello"
    assert [c.split("=", 1)[0] for c in cookies] == ["theme"]


def test_a_subdomain_app_keeps_its_host_only_cookie_and_cannot_set_portals(
    workspace, server, people
):
    client = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)
    start = client.get("/@alice/dev/apps/shared/x", headers=bearer(people.bob))
    assert start.status_code == 302, start.text
    location = urlsplit(start.headers["location"])
    host = location.netloc.split(":")[0]
    assert host == f"shared--main--dev--alice.{DOMAIN}"
    signed_in = client.get(f"{location.path}?{location.query}", headers={"Host": location.netloc})
    assert signed_in.status_code == 302, signed_in.text
    (own,) = signed_in.headers.get_list("set-cookie")
    assert own.startswith(f"{app_hosts.COOKIE_NAME}=")
    assert "domain=" not in own.lower()  # host-only: no other host ever receives it
    assert "httponly" in own.lower()
    cookie = own.split(";", 1)[0]
    # Without the cookie, the authenticated app asks who you are.
    anonymous = httpx.get(f"{server.url}/x", headers={"Host": location.netloc}, timeout=30)
    assert anonymous.status_code == 401
    # The app's own `sessionid` (a Django app's, say) is its business on its own host.
    own_session = f"{cookie}; sessionid=the-apps-own"
    page = client.get("/x", headers={"Host": location.netloc, "Cookie": own_session})
    assert page.status_code == 200, page.text
    assert page.json()["headers"]["cookie"] == "sessionid=the-apps-own"
    assert "clear-site-data" not in page.headers
    # Host-only cookies stay on the app's host, where Portal's session never is: they pass.
    # What could reach another host, or replace Portal's app cookie, does not.
    kept = page.headers.get_list("set-cookie")
    assert [c.split("=", 1)[0] for c in kept] == ["sessionid", "csrftoken", "sessionid", "theme"]
    assert not any("domain=" in c.lower() for c in kept)


# ---------------------------------------------------------------- path apps are the owner's


def test_shared_path_apps_are_refused_to_everyone_but_their_owner(workspace, server, people):
    client = httpx.Client(base_url=server.url, timeout=30)
    as_bob, as_alice = bearer(people.bob), bearer(people.alice)
    refused = client.get("/@alice/dev/apps/nope/", headers=as_bob)
    assert refused.status_code == 404
    for slug in ("team", "open", "preview"):
        response = client.get(f"/@alice/dev/apps/{slug}/", headers=as_bob)
        assert (response.status_code, response.text) == (404, refused.text), slug
        anonymous = client.get(f"/@alice/dev/apps/{slug}/")
        assert anonymous.status_code == 401, slug
        assert client.get(f"/@alice/dev/apps/{slug}/", headers=as_alice).status_code == 200
    # The subdomain app is how to share: bob is sent to its host.
    assert client.get("/@alice/dev/apps/shared/", headers=as_bob).status_code == 302


def test_platform_owners_do_not_open_other_users_path_apps(workspace, server, people):
    client = httpx.Client(base_url=server.url, timeout=30)
    for who in (people.root, people.tadmin):
        response = client.get("/@alice/dev/apps/preview/", headers=bearer(who))
        assert response.status_code == 403, who.username
        assert "Only the workspace owner may open its path apps" in response.text


def test_the_dangerous_settings_open_path_apps_to_whom_they_name(
    dangerous_workspace, dangerous_server, people
):
    client = httpx.Client(base_url=dangerous_server.url, timeout=30)
    as_bob, as_root = bearer(people.bob), bearer(people.root)
    assert client.get("/@alice/dev/apps/team/", headers=as_bob).status_code == 200
    assert client.get("/@alice/dev/apps/open/").status_code == 200
    assert client.get("/@alice/dev/apps/preview/", headers=as_bob).status_code == 404
    assert client.get("/@alice/dev/apps/preview/", headers=as_root).status_code == 200


# ---------------------------------------------------------------- refusals tell nothing


def test_every_refusal_to_a_stranger_looks_the_same(workspace, server, people, make_user):
    other = make_agent(make_user(username="carol"), "carol-agent-token", name="box")
    WorkspaceApp.objects.filter(agent=other).update(share="authenticated")
    client = httpx.Client(base_url=server.url, timeout=30)
    as_bob = bearer(people.bob)
    paths = {
        "no such user": "/@nobody/dev/apps/preview/",
        "no such workspace": "/@alice/nope/apps/preview/",
        "no such agent": "/@alice/dev.nope/apps/preview/",
        "no such app": "/@alice/dev/apps/nope/",
        "owner-only app": "/@alice/dev/apps/preview/",
        "an existing agent named": "/@alice/dev.main/apps/preview/",
        "shared path app": "/@alice/dev/apps/team/",
        "public path app": "/@alice/dev/apps/open/",
        "agent not connected": "/@carol/box/apps/preview/",
        "no trailing slash": "/@alice/dev/apps/preview",
    }
    answers = {}
    for name, path in paths.items():
        response = client.get(path, headers=as_bob)
        answers[name] = (response.status_code, response.headers["content-type"], response.text)
    assert len(set(answers.values())) == 1, answers
    assert answers["no such user"][0] == 404

    # The same over WebSockets: one close code and reason.
    ws_base = server.url.replace("http://", "ws://")
    closes = {}
    for name, path in paths.items():
        with ws_connect(ws_base + path, additional_headers=as_bob, open_timeout=30) as ws:
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=30)
            closes[name] = (ws.close_code, ws.close_reason)
    assert len(set(closes.values())) == 1, closes
    assert closes["no such user"][0] == 4404


def test_refusals_do_the_same_database_work_whether_or_not_the_app_exists(workspace, people):
    """So their time tells nothing either."""
    queries = {}
    for path in ("/@alice/dev/apps/preview/", "/@nobody/dev/apps/preview/"):
        match = app_proxy.APP_PATH.match(path)
        with (
            CaptureQueriesContext(connection) as captured,
            pytest.raises(app_proxy.Refusal) as refused,
        ):
            app_proxy.authorize(match, people.bob)
        queries[path] = (refused.value.status, len(captured.captured_queries))
    assert len(set(queries.values())) == 1, queries


# ---------------------------------------------------------------- faults are clean answers


def test_an_app_with_no_listener_is_a_502_with_a_clear_page(workspace, server, people):
    logged = len(server.output())
    WorkspaceApp.objects.filter(slug="preview").update(url=f"http://localhost:{free_port()}")
    client = httpx.Client(base_url=server.url, timeout=30)
    as_alice = bearer(people.alice)
    page = client.get("/@alice/dev/apps/preview/", headers={**as_alice, "Accept": "text/html"})
    assert page.status_code == 502
    assert page.headers["content-type"].startswith("text/html")
    assert "is not answering" in page.text and "Connection refused" in page.text
    # Whichever comes first, the agent's refusal or the request written to it: always a 502.
    for _ in range(20):
        plain = client.get("/@alice/dev/apps/preview/", headers=as_alice)
        assert plain.status_code == 502
        assert "Connection refused" in plain.text
    api = client.get(
        "/@alice/dev/apps/preview/", headers={**as_alice, "Accept": "application/json"}
    )
    assert api.status_code == 502
    assert set(api.json()) == {"message", "detail", "validations"}
    url = server.url.replace("http://", "ws://") + "/@alice/dev/apps/preview/"
    with (
        ws_connect(url, additional_headers=as_alice, open_timeout=30) as ws,
        pytest.raises(ConnectionClosed),
    ):
        ws.recv(timeout=30)
    assert ws.close_code == 4502 and "Connection refused" in ws.close_reason
    assert "Traceback" not in server.output()[logged:]


def test_a_client_that_leaves_mid_download_logs_no_traceback(workspace, server, people):
    logged = len(server.output())
    as_alice = bearer(people.alice)
    for _ in range(3):
        with httpx.stream(
            "GET", f"{server.url}/@alice/dev/apps/preview/big", headers=as_alice
        ) as r:
            assert r.status_code == 200
            next(r.iter_bytes())  # then hang up
    # The proxy is still serving, and said nothing alarming about those who left.
    client = httpx.Client(base_url=server.url, timeout=30)
    assert client.get("/@alice/dev/apps/preview/x", headers=as_alice).status_code == 200
    assert "Traceback" not in server.output()[logged:]
    assert "ERROR" not in server.output()[logged:]


def test_odd_paths_are_4xx_never_500(workspace, server, people):
    logged = len(server.output())
    client = httpx.Client(base_url=server.url, timeout=30)
    as_alice = bearer(people.alice)
    for path in (
        "/@%00/x/apps/y/",
        "/@alice/dev%00/apps/preview/",
        "/@alice/dev/apps/pre%00view/",
        "/@alice/dev.%00/apps/preview/",
        "/@/app-auth?to=http://a%00--b--c.apps.portal.test/",
        "/@alice/dev/apps/preview/%ff%fe?q=%00",
        "/@" + "a" * 5000 + "/dev/apps/preview/",
        "/@",
        "/@alice",
    ):
        response = client.get(path, headers=as_alice)
        assert 400 <= response.status_code < 500 or response.status_code == 200, (path, response)
    assert client.get("/@%00/x/apps/y/", headers=as_alice).status_code == 400
    assert "Traceback" not in server.output()[logged:]


# ---------------------------------------------------------------- template import


SHARED_PATH_APP = (
    PORTAL_PROVIDER
    + """
resource "portal_agent" "main" {
  os   = "linux"
  arch = "amd64"
}
resource "terraform_data" "vm" {
  input = portal_agent.main.token
}
resource "portal_app" "team" {
  agent_id = portal_agent.main.id
  slug     = "team"
  url      = "http://localhost:8080"
  share    = "authenticated"
}
"""
)


def test_a_template_sharing_a_path_app_is_refused_at_import(owner):
    version = import_version(owner, tar_of({"main.tf": SHARED_PATH_APP}))
    assert version.import_status == ImportStatus.FAILED
    assert "team" in version.import_error
    assert "subdomain = true" in version.import_error
    assert "PORTAL_WILDCARD_ACCESS_URL" in version.import_error
    # As a subdomain app it may be shared.
    fixed = SHARED_PATH_APP.replace('"authenticated"', '"authenticated"\n  subdomain = true')
    version = import_version(owner, tar_of({"main.tf": fixed}))
    assert version.import_status == ImportStatus.SUCCEEDED, version.import_error
