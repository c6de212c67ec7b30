"""Bad input is a 4xx with a clear answer, never a 500, and never a traceback in the server log.

Against a real server process (uvicorn serving portal.asgi) on the test database: a NUL
character in a path, a query, a form field, a JSON string, a cookie; JSON nested 100,000 deep;
and the app proxy's paths. Routes come from the URL conf, so a new one is covered as it lands.
"""

from __future__ import annotations

import os
import socket

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from portal_shared import archive
from tests.conftest import PASSWORD
from tests.security.real_server import (
    Browser,
    api_client,
    fill,
    has_parameters,
    is_json_error,
    routes,
)
from tests.templates.helpers import MAIN_TF, template_tar

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

NUL_MESSAGE = "NUL character"
NUL_DETAIL = "Must not contain NUL characters."
DEEP = 100_000
JSON_LIMIT = 2_621_440  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE, which the server runs with


def _with_nul(route: str) -> str:
    """The route's path with a NUL in every parameter, or at its end when it has none."""
    if has_parameters(route):
        return fill(route, "a%00b", uuid="a%00b")
    return "/" + fill(route, "x").strip("/") + "%00"


def _api_routes_but_logout() -> list[str]:
    return [route for route in routes("api") if "logout" not in route]


def _is_client_error(response: httpx.Response, method: str, route: str) -> dict:
    """Not a 500; a refusal is the error JSON. A route that reads no body may well answer 2xx."""
    assert response.status_code < 500, (method, route, response.status_code, response.text[:300])
    return is_json_error(response) if response.status_code >= 400 else {}


def _is_page_400(response: httpx.Response) -> None:
    assert response.status_code == 400, (response.request.url, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
    assert "Bad request" in response.text and NUL_MESSAGE in response.text


def _is_api_400(response: httpx.Response, field: str | None = None) -> dict:
    assert response.status_code == 400, (response.request.url, response.text[:300])
    body = is_json_error(response)
    if field is not None:
        assert {"field": field, "detail": NUL_DETAIL} in body["validations"], body
    return body


# Routes that answer the API's error JSON, not the portal's pages: the API, and SCIM (which an
# identity provider's client calls; its own errors are SCIM's, input refused before any view
# reads it is the API's 400).
JSON_PREFIXES = ("/api/", "/scim/")


def test_a_nul_in_any_path_is_a_400_in_the_routes_own_language(portal_server, people, server_log):
    api = api_client(portal_server, people.owner_token)
    browser = Browser(portal_server).sign_in("admin")
    for route in routes():
        path = _with_nul(route)
        if path.startswith(JSON_PREFIXES):
            body = _is_api_400(api.get(path), "path")
            assert NUL_MESSAGE in body["message"]
        else:
            _is_page_400(browser.get(path))


def test_a_nul_in_a_query_parameter_is_a_400_naming_it(portal_server, people, server_log):
    api = api_client(portal_server, people.owner_token)
    browser = Browser(portal_server).sign_in("admin")
    for route in routes():
        path = fill(route, "alice")
        if path.startswith(JSON_PREFIXES):
            body = _is_api_400(api.get(path, params={"q": "a\x00"}), "q")
            assert "'q'" in body["detail"]
        else:
            _is_page_400(browser.get(path, params={"q": "a\x00"}))
    # The console's search box, as an owner types into it.
    _is_page_400(browser.get("/admin/accounts/user/", params={"q": "\x00"}))


def test_a_nul_in_a_form_field_is_the_portals_400_page(portal_server, people, server_log):
    # Every page's POST: the check comes before the view, whatever the form.
    browser = Browser(portal_server).sign_in("alice")
    for route in routes():
        path = fill(route, "alice")
        # Not SCIM: no page, no form (it reads JSON, and only after its key: a 401 first).
        if not path.startswith(JSON_PREFIXES) and "logout" not in path:
            _is_page_400(browser.post(path, {"name": "dev\x00"}))
    # The forms people use, with their real fields.
    anonymous = Browser(portal_server)
    _is_page_400(anonymous.post("/login", {"login": "admin\x00", "password": PASSWORD}))
    _is_page_400(anonymous.post("/admin/login/", {"username": "\x00", "password": "x"}))
    page = browser.post(
        "/templates/python/create", {"name": "dev2\x00", "repos": "a", "shell": "/bin/sh"}
    )
    _is_page_400(page)
    assert "&#x27;name&#x27;" in page.text  # the page names the field
    _is_page_400(browser.post("/templates/python/create", {"name": "ok", "shell": "a\x00"}))
    _is_page_400(browser.post("/account/tokens", {"name": "t\x00"}))
    # And a well-formed form still works.
    created = browser.post("/templates/python/create", {"name": "dev2", "shell": "/bin/sh"})
    assert created.status_code == 302, created.text[:500]


def test_a_nul_in_a_json_string_is_a_400_naming_the_field(portal_server, people, server_log):
    owner = api_client(portal_server, people.owner_token)
    anonymous = httpx.Client(base_url=portal_server.url)
    r = anonymous.post("/api/v2/users/login", json={"login": "admin\x00", "password": "x"})
    _is_api_400(r, "login")
    r = owner.post("/api/v2/users", json={"username": "bob", "email": "b\x00@example.com"})
    _is_api_400(r, "email")
    r = owner.post("/api/v2/workspaces", json={"name": "w", "template": "python\x00"})
    _is_api_400(r, "template")
    r = owner.post(
        "/api/v2/workspaces",
        json={"name": "w", "template": "python", "parameters": {"repos": '["a\\u0000"]'}},
    )
    assert r.status_code != 500
    r = owner.post(
        "/api/v2/workspaces",
        json={"name": "w", "template": "python", "parameters": {"shell": "/bin/\x00sh"}},
    )
    _is_api_400(r, "parameters.shell")
    r = owner.put("/api/v2/users/alice/roles", json={"roles": ["member", "\x00"]})
    _is_api_400(r, "roles[1]")
    # A key is text too.
    r = owner.post("/api/v2/workspaces", json={"name": "w", "template": "python", "a\x00": 1})
    _is_api_400(r)
    # Every API route, every method with a body: never a 500; whichever reads it refuses it.
    refused = 0
    for route in _api_routes_but_logout():
        for method in ("POST", "PUT", "PATCH"):
            r = owner.request(method, fill(route, "alice"), json={"x": ["\x00"]})
            body = _is_client_error(r, method, route)
            refused += {"field": "x[0]", "detail": NUL_DETAIL} in body.get("validations", [])
    assert refused >= 11, refused  # every route that reads a JSON body


def test_json_nested_100000_deep_is_a_400_on_every_api_route(portal_server, people, server_log):
    owner = api_client(portal_server, people.owner_token)
    deep = "[" * DEEP + "]" * DEEP
    refused = 0
    for route in _api_routes_but_logout():
        for method in ("POST", "PUT", "PATCH"):
            r = owner.request(
                method,
                fill(route, "alice"),
                content=deep,
                headers={"Content-Type": "application/json"},
            )
            body = _is_client_error(r, method, route)
            refused += "nested deeper than 64" in body.get("message", "")
    assert refused >= 11, refused  # every route that reads a JSON body
    # Deep, but inside a field: `parameters` 5,000 deep, and a list value 5,000 deep.
    r = owner.post(
        "/api/v2/workspaces",
        content='{"name": "w", "template": "python", "parameters": '
        + "[" * 5000
        + "]" * 5000
        + "}",
        headers={"Content-Type": "application/json"},
    )
    assert "nested deeper than 64" in _is_api_400(r)["message"]
    deep_value = "[" * 5000 + "]" * 5000
    r = owner.post(
        "/api/v2/workspaces",
        json={"name": "w", "template": "python", "parameters": {"repos": deep_value}},
    )
    body = _is_api_400(r)
    assert any(v["field"] == "parameters.repos" for v in body["validations"]), body


def test_a_json_body_over_the_upload_limit_is_a_413_archives_have_their_own(
    portal_server, people, server_log
):
    owner = api_client(portal_server, people.owner_token)
    big = b'{"name": "w", "template": "python", "x": "' + b"a" * JSON_LIMIT + b'"}'
    for route in ("/api/v2/workspaces", "/api/v2/users/login", "/api/v2/templateversions"):
        r = owner.post(route, content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413, (route, r.status_code, r.text[:300])
        body = is_json_error(r)
        assert body["message"] == f"The request body is larger than {JSON_LIMIT} bytes.", body
        assert body["validations"] == [{"field": "body", "detail": f"At most {JSON_LIMIT} bytes."}]
    # Chunked, so no Content-Length to refuse it by: never a 500, never read past the limit.
    chunks = (b'{"x": "', *[b"a" * 2**20] * 4, b'"}')
    r = owner.post(
        "/api/v2/workspaces", content=iter(chunks), headers={"Content-Type": "application/json"}
    )
    assert 400 <= r.status_code < 500, r.text[:300]
    is_json_error(r)
    # Just under the limit it is read as ever.
    r = owner.post(
        "/api/v2/workspaces",
        json={"name": "w", "template": "python\x00", "x": "a" * (JSON_LIMIT - 100)},
    )
    _is_api_400(r, "template")
    # A template archive past the JSON limit, raw and as a form, is still a 201; past its own
    # limit (10 MB) a 413 saying so.
    tar = template_tar({"main.tf": MAIN_TF, "blob": os.urandom(JSON_LIMIT + 2**20)})
    assert JSON_LIMIT < len(tar) < archive.MAX_ARCHIVE_BYTES
    r = owner.post("/api/v2/files", content=tar, headers={"Content-Type": "application/gzip"})
    assert r.status_code == 201, r.text[:300]
    r = owner.post("/api/v2/files", files={"file": ("t.tar.gz", tar, "application/gzip")})
    assert r.status_code == 201, r.text[:300]
    r = owner.post(
        "/api/v2/files",
        content=b"\0" * (archive.MAX_ARCHIVE_BYTES + 1),
        headers={"Content-Type": "application/x-tar"},
    )
    assert r.status_code == 413
    assert "archive is larger than 10 MB" in is_json_error(r)["message"]
    assert "Request Entity Too Large" in server_log.text()


def test_the_app_proxy_refuses_a_nul_in_its_own_path_plainly(portal_server, people, server_log):
    browser = Browser(portal_server).sign_in("alice")
    for path in (
        "/@%00/x/apps/y/",
        "/@alice/%00/apps/y/",
        "/@alice/dev.%00/apps/preview/",
        "/@alice/dev/apps/%00/",
    ):
        for client in (browser.http, httpx.Client(base_url=portal_server.url)):
            r = client.get(path)
            assert r.status_code == 400, (path, r.status_code, r.text[:300])
            assert r.headers["content-type"].startswith("text/plain")
            assert NUL_MESSAGE in r.text
    # The same paths as WebSockets (app WebSockets), and a user WebSocket with a NUL query.
    for path in ("/@%00/x/apps/y/", "/api/v2/workspaceagents/me/rpc?x=%00"):
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(portal_server.ws_url + path, open_timeout=30)
        assert refused.value.response.status_code == 400


def test_a_nul_in_a_cookie_is_a_400(portal_server, people, server_log):
    # A quoted cookie value may spell NUL as an octal escape, and Django decodes it.
    for path in ("/api/v2/users/me", "/", "/@alice/dev/apps/preview/"):
        with socket.create_connection(("127.0.0.1", portal_server.port), timeout=30) as s:
            s.sendall(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                'Cookie: sessionid="\\000abcdefghijklmnop"\r\nConnection: close\r\n\r\n'.encode()
            )
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 400"), (path, answer[:300])
        assert b"NUL character" in answer


def test_what_django_refuses_is_a_400_in_the_routes_own_language(portal_server, server_log):
    # A Host that is not Portal's: refused by Django itself, before any view.
    for path in ("/api/v2/buildinfo", "/login"):
        r = httpx.get(portal_server.url + path, headers={"Host": "elsewhere.example"})
        assert r.status_code == 400, (path, r.text[:300])
        if path.startswith("/api/"):
            assert is_json_error(r)["message"] == "Portal could not read this request."
        else:
            assert "Bad request" in r.text
