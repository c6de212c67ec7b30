"""A real server process for the bad-input tests, people who can sign in to it, and its log.

The fixtures reach tests/security through its conftest. The server is uvicorn serving portal.asgi
as `portal server` runs it (tests.relay.replicas), on the test database, one per module; the
people and their workspace are made again for every test.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import httpx
import pytest
from django.db import close_old_connections
from django.urls import URLPattern, URLResolver, get_resolver

from portal.accounts.choices import Role
from portal.accounts.services import create_token
from tests.agents.helpers import make_agent
from tests.conftest import PASSWORD
from tests.relay.replicas import Replica
from tests.workspaces.helpers import buildable_template, param

# What the server must never print for a client's bad input.
SERVER_ERROR_MARKS = ("Traceback", "Exception in ASGI application", "Internal Server Error")
ZERO_UUID = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def portal_server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        replica = Replica("bad-input").start()
    try:
        yield replica.wait_ready()
    finally:
        replica.stop()
        close_old_connections()


@pytest.fixture
def server_log(portal_server):
    """The server's log lines written during the test; the test fails if one is a traceback."""
    start = len(portal_server.output())
    lines = SimpleNamespace(text=lambda: portal_server.output()[start:])
    yield lines
    written = lines.text()
    marks = [m for m in SERVER_ERROR_MARKS if m in written]
    assert not marks, f"the server logged {marks} for bad input:\n{written[-4000:]}"


@pytest.fixture
def people(transactional_db, settings, make_user, portal_server):
    """An owner and a member who can sign in to the real server (its own password hasher), their
    API tokens, a template with a list parameter, and the member's workspace with an app."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    owner = make_user(Role.OWNER, username="admin")
    member = make_user(username="alice")
    template = buildable_template(
        [param("repos", "list(string)", "[]"), param("shell", "string", "/bin/bash")],
        name="python",
    )
    agent = make_agent(member, name="dev")
    _, owner_token = create_token(owner, actor=owner, name="bad-input")
    _, member_token = create_token(member, actor=member, name="bad-input")
    return SimpleNamespace(
        owner=owner,
        member=member,
        template=template,
        agent=agent,
        workspace=agent.resource.job.build.workspace,
        owner_token=owner_token,
        member_token=member_token,
    )


def api_client(server, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


class Browser:
    """A browser on the real server: keeps cookies and sends the CSRF token like the pages do."""

    def __init__(self, server):
        self.http = httpx.Client(base_url=server.url, timeout=60)

    def csrf(self) -> str:
        if "csrftoken" not in self.http.cookies:
            self.http.get("/login")
        return self.http.cookies["csrftoken"]

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, **kwargs) -> httpx.Response:
        token = self.csrf()
        headers = {"X-CSRFToken": token, **kwargs.pop("headers", {})}
        return self.http.post(
            path, data={"csrfmiddlewaretoken": token, **(data or {})}, headers=headers, **kwargs
        )

    def sign_in(self, username: str) -> Browser:
        r = self.post("/login", {"login": username, "password": PASSWORD})
        assert r.status_code == 302, r.text[:500]
        return self


def routes(namespace: str | None = None) -> list[str]:
    """Every URL pattern of the URL conf (of one namespace, e.g. "api"), as a route string."""
    found = []

    def walk(resolver, prefix: str, space: str | None) -> None:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                inner = entry.namespace or space
                walk(entry, prefix + str(entry.pattern), inner)
            elif isinstance(entry, URLPattern) and (namespace is None or space == namespace):
                found.append(prefix + str(entry.pattern))

    walk(get_resolver(), "", None)
    return found


_PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>|\(\?P<(?P<rname>\w+)>[^)]*\)")


def fill(route: str, value: str, uuid: str = ZERO_UUID) -> str:
    """The path of a route with every parameter set to `value` (UUID converters to `uuid`)."""

    def one(m: re.Match) -> str:
        return uuid if m["conv"] == "uuid" else value

    path = _PARAM.sub(one, route.lstrip("^").replace("\\Z", "").rstrip("$"))
    return "/" + path.replace("\\", "")


def has_parameters(route: str) -> bool:
    return _PARAM.search(route) is not None


def is_json_error(response: httpx.Response) -> dict:
    # application/json, or the OpenAPI document's own application/vnd.oai.openapi+json
    assert "json" in response.headers["content-type"], response.text[:300]
    body = response.json()
    assert set(body) == {"message", "detail", "validations"}, body
    return body
