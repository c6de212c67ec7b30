"""Subdomain apps (PORTAL_WILDCARD_ACCESS_URL): host routing, one-time tokens, host cookies."""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from channels.db import database_sync_to_async

from portal import config
from portal.asgi import application
from tests.agents.helpers import make_agent
from tests.relay.test_app_proxy import TOKEN, HttpAgent
from tests.relay.test_app_proxy_ws import App, Browser, auth, point_apps, run, session_cookie
from workspaces.models import WorkspaceApp

pytestmark = pytest.mark.django_db(transaction=True)
DOMAIN = "apps.portal.test"
PREVIEW = f"preview--main--dev--alice.{DOMAIN}"  # subdomain = true
TEAM = f"team--main--dev--alice.{DOMAIN}"  # authenticated, served on paths too
OPEN = f"open--dev--alice.{DOMAIN}"  # public; the agent part left out (one agent)
HTML = {"Accept": "text/html"}


@pytest.fixture
def alice(make_user):
    return make_user(username="alice")


@pytest.fixture
def as_alice(alice) -> dict:
    return auth(alice)


@pytest.fixture
def as_bob(make_user) -> dict:
    return auth(make_user(username="bob"))


@pytest.fixture
def agent(alice):
    return make_agent(alice, TOKEN, name="dev")


def configure(value: str | None) -> None:
    if value is None:
        os.environ.pop("PORTAL_WILDCARD_ACCESS_URL", None)
    else:
        os.environ["PORTAL_WILDCARD_ACCESS_URL"] = value
    config.load.cache_clear()


@pytest.fixture
def wildcard():
    configure(f"http://*.{DOMAIN}")
    yield
    configure(None)


@pytest.fixture
def apps(agent, wildcard):
    """The apps point at a closed port until a test runs the real app (through())."""
    point_apps(agent, 1)
    WorkspaceApp.objects.filter(slug="preview").update(subdomain=True)
    return agent


class Session:
    """A browser-like client (cookies per host) into the real ASGI app, not following redirects."""

    def __init__(self, client: httpx.AsyncClient):
        self.client = client
        self.cookies: dict[str, dict[str, str]] = {}

    async def get(self, url: str, headers=None) -> httpx.Response:
        host = urlsplit(url).hostname
        jar = self.cookies.setdefault(host, {})
        headers = dict(headers or {})
        if jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        response = await self.client.get(url, headers=headers)
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            jar[name] = rest.split(";", 1)[0]
        return response


def browse(scenario, *, through=None):
    """Run `scenario(session, app)`: with the real app and a connected agent if `agent`."""

    async def go():
        transport = httpx.ASGITransport(app=application, client=("10.1.2.3", 5000))
        async with httpx.AsyncClient(transport=transport) as client:
            session = Session(client)
            if through is None:
                return await scenario(session, None)
            async with App() as app:
                await database_sync_to_async(point_apps_again)(through, app.port)
                async with HttpAgent():
                    result = await scenario(session, app)
                    await app.drained()
                    return result

    return run(go())


def point_apps_again(agent, port: int) -> None:
    WorkspaceApp.objects.filter(agent=agent).exclude(url="").update(url=f"http://localhost:{port}")


def token_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["portal_app_token"][0]


def test_a_subdomain_app_is_opened_on_its_host_through_a_one_time_token(apps, as_alice):
    async def scenario(session, app):
        start = await session.get("http://portal.test/@alice/dev/apps/preview/x?q=1", as_alice)
        landing = await session.get(start.headers["location"])
        page = await session.get(f"http://{PREVIEW}{landing.headers['location']}")
        replay = await session.client.get(start.headers["location"])
        return start, landing, page, replay

    start, landing, page, replay = browse(scenario, through=apps)
    assert start.status_code == 302
    location = urlsplit(start.headers["location"])
    assert (location.scheme, location.netloc, location.path) == ("http", PREVIEW, "/x")
    assert location.query.startswith("q=1&portal_app_token=")
    assert start.headers["cache-control"] == "no-store"
    # The app host trades the token for its own cookie and drops it from the address.
    assert landing.status_code == 302
    assert landing.headers["location"] == "/x?q=1"
    cookie = landing.headers["set-cookie"]
    assert cookie.startswith("portal_app_session=")
    assert "HttpOnly" in cookie and "Domain" not in cookie
    assert page.status_code == 200
    seen = json.loads(page.text)
    assert seen["path"] == "/x?q=1"  # the app sees its own path at the root
    assert "cookie" not in seen["headers"] and "authorization" not in seen["headers"]
    assert seen["headers"]["x-forwarded-host"] == PREVIEW
    assert replay.status_code == 401
    assert "already used" in replay.text


def test_a_token_opens_only_the_app_and_host_it_was_issued_for(apps, as_alice):
    async def scenario(session, app):
        start = await session.get("http://portal.test/@alice/dev/apps/preview/", as_alice)
        token = token_of(start.headers["location"])
        other = await session.client.get(f"http://{TEAM}/?portal_app_token={token}")
        forged = await session.client.get(f"http://{PREVIEW}/?portal_app_token={token}x")
        real = await session.client.get(f"http://{PREVIEW}/?portal_app_token={token}")
        nowhere = await session.client.get(f"http://nope--dev--alice.{DOMAIN}/?portal_app_token=x")
        return other, forged, real, nowhere

    other, forged, real, nowhere = browse(scenario)
    # A made-up token says the same of an app that does not exist: nothing learnt.
    assert (nowhere.status_code, nowhere.text) == (forged.status_code, forged.text)
    assert other.status_code == 401 and "issued for another app" in other.text
    assert forged.status_code == 401 and "not valid" in forged.text
    assert real.status_code == 302  # the wrong host did not use it up


def test_a_cookie_of_one_app_host_signs_in_to_no_other(apps, as_alice):
    async def scenario(session, app):
        start = await session.get("http://portal.test/@alice/dev/apps/preview/", as_alice)
        await session.get(start.headers["location"])
        value = session.cookies[PREVIEW]["portal_app_session"]
        return await session.client.get(
            f"http://{TEAM}/", headers={"Cookie": f"portal_app_session={value}"}
        )

    assert browse(scenario).status_code == 401


def test_signing_in_from_an_app_host_goes_through_the_main_host_and_back(apps, as_alice):
    async def scenario(session, app):
        anonymous = await session.get(f"http://{TEAM}/page?a=b", HTML)
        auth_url = anonymous.headers["location"]
        login = await session.get(auth_url, HTML)
        signed_in = await session.get(auth_url, as_alice)
        landing = await session.get(signed_in.headers["location"])
        page = await session.get(f"http://{TEAM}{landing.headers['location']}")
        return anonymous, login, signed_in, page

    anonymous, login, signed_in, page = browse(scenario, through=apps)
    to = quote(f"http://{TEAM}/page?a=b", safe="")
    assert anonymous.status_code == 302
    assert anonymous.headers["location"] == f"{config.load().access_url}/@/app-auth?to={to}"
    assert login.status_code == 302
    assert login.headers["location"].startswith("/admin/login/?next=/%40/app-auth%3Fto%3D")
    assert signed_in.status_code == 302
    assert signed_in.headers["location"].startswith(f"http://{TEAM}/page?a=b&portal_app_token=")
    assert page.status_code == 200 and json.loads(page.text)["path"] == "/page?a=b"


def test_app_hosts_keep_share_levels_and_tell_strangers_nothing(apps, as_bob):
    async def scenario(session, app):
        return {
            "bob on alice's owner app": await session.client.get(
                f"http://{PREVIEW}/", headers=as_bob
            ),
            "bob asks for a token": await session.client.get(
                f"http://portal.test/@/app-auth?to=http://{PREVIEW}/", headers=as_bob
            ),
            "anonymous, no such app": await session.client.get(
                f"http://nope--dev--alice.{DOMAIN}/"
            ),
            "anonymous, owner app": await session.client.get(f"http://{PREVIEW}/"),
            "bob on the authenticated app": await session.client.get(
                f"http://{TEAM}/hi", headers=as_bob
            ),
            "anonymous on the public app": await session.client.get(f"http://{OPEN}/x"),
            "a host not under the app domain": await session.client.get(
                "http://portal.test/@/app-auth?to=http://evil.example/", headers=as_bob
            ),
        }

    results = browse(scenario, through=apps)
    assert results["bob on alice's owner app"].status_code == 404
    assert results["bob asks for a token"].status_code == 404
    assert results["anonymous, no such app"].status_code == 401
    assert results["anonymous, owner app"].status_code == 401
    assert json.loads(results["bob on the authenticated app"].text)["path"] == "/hi"
    assert json.loads(results["anonymous on the public app"].text)["path"] == "/x"
    assert results["a host not under the app domain"].status_code == 400


def test_websockets_on_an_app_host_take_its_cookie_from_its_own_pages_only(apps, alice, as_alice):
    cookie = session_cookie(alice)

    async def scenario(session, app):
        start = await session.get("http://portal.test/@alice/dev/apps/preview/", as_alice)
        await session.get(start.headers["location"])
        jar = f"portal_app_session={session.cookies[PREVIEW]['portal_app_session']}"
        own = Browser("/chat", {"Cookie": jar, "Origin": f"http://{PREVIEW}"}, host=PREVIEW)
        await own.open()
        await own.send("hi")
        echoed = await own.receive()
        await own.hang_up()
        closes = {}
        for name, origin, host, path, cookies in [
            ("main site to app host", "http://portal.test", PREVIEW, "/chat", jar),
            ("another app host", f"http://{OPEN}", PREVIEW, "/chat", jar),
            (
                "app host to a path app",
                f"http://{OPEN}",
                "portal.test",
                "/@alice/dev/apps/team/",
                cookie,
            ),
        ]:
            closes[name] = await Browser(
                path, {"Cookie": cookies, "Origin": origin}, host=host
            ).refused()
        return echoed, closes

    echoed, closes = browse(scenario, through=apps)
    assert echoed == "hi"
    for name, close in closes.items():
        assert close["code"] == 4403, name
        assert "Cross-site WebSocket" in close["reason"], name


def test_without_a_wildcard_domain_a_subdomain_app_says_what_the_operator_must_do(agent, as_alice):
    WorkspaceApp.objects.filter(slug="preview").update(subdomain=True)

    async def scenario(session, app):
        return await session.get("http://portal.test/@alice/dev/apps/preview/", as_alice)

    response = browse(scenario)
    assert response.status_code == 409
    assert "the operator must set PORTAL_WILDCARD_ACCESS_URL" in response.text


def test_the_api_gives_each_apps_url(apps, alice, client_for):
    body = client_for(alice).get(f"/api/v2/workspaceagents/{apps.pk}").json()
    urls = {app["slug"]: app["access_url"] for app in body["apps"]}
    base = config.load().access_url
    assert urls == {
        "open": f"{base}/@alice/dev.main/apps/open/",
        "preview": f"http://{PREVIEW}/",
        "team": f"{base}/@alice/dev.main/apps/team/",
    }
    workspace_id = apps.resource.job.build.workspace_id
    detail = client_for(alice).get(f"/api/v2/workspaces/{workspace_id}").json()
    (resource,) = detail["resources"]
    (listed,) = resource["agents"]
    assert {app["slug"]: app["access_url"] for app in listed["apps"]} == urls
    configure(None)
    body = client_for(alice).get(f"/api/v2/workspaceagents/{apps.pk}").json()
    urls = {app["slug"]: app["access_url"] for app in body["apps"]}
    assert urls["preview"] == f"{base}/@alice/dev.main/apps/preview/"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("apps.example.com", "must start with '*.'"),
        ("ftp://*.example.com", "use http or https"),
        ("*.example.com/apps", "give no path"),
        ("*.exa_mple.com", "is no host name"),
        ("*.example.com:0", "the port must be 1-65535"),
    ],
)
def test_a_bad_wildcard_access_url_is_a_clear_error_at_startup(value, error):
    with pytest.raises(ValueError, match="PORTAL_WILDCARD_ACCESS_URL") as raised:
        config.parse_wildcard_access_url(value, "https://portal.example.com")
    assert error in str(raised.value)


def test_a_wildcard_access_url_takes_the_access_urls_scheme_unless_given():
    parsed = config.parse_wildcard_access_url("*.Apps.Example.com", "https://portal.example.com")
    assert (parsed.scheme, parsed.domain, parsed.port) == ("https", "apps.example.com", None)
    parsed = config.parse_wildcard_access_url("http://*.portal.localhost:3000", "https://x")
    assert parsed.url("a--b--c") == "http://a--b--c:3000"
