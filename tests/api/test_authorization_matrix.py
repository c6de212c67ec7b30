"""Every /api/v2 endpoint and method x every role, suspended user and anonymous caller.

The endpoints are read from the URL conf, so one added without a row in MATRIX fails here.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.views import APIView

from tests import factories
from tests.api.conftest import CALLERS, STRONG_PASSWORD
from tests.conftest import PASSWORD
from tests.templates.helpers import template_tar
from tests.workspaces import helpers as workspace_helpers
from workspaces.api import agent_bundle
from workspaces.choices import JobStatus

API_PREFIX = "api/v2/"


def _row(owner, tadmin, uadmin, auditor, member, suspended, anonymous) -> dict[str, int]:
    return dict(zip(CALLERS, (owner, tadmin, uadmin, auditor, member, suspended, anonymous)))


EVERYONE = _row(200, 200, 200, 200, 200, 200, 200)
SIGNED_IN = _row(200, 200, 200, 200, 200, 403, 401)
# Another member's workspace: template admins may look (workspace.read_all), only owners act.
THEIR_WORKSPACE_READ = _row(200, 200, 404, 404, 404, 403, 401)

# (url name, method) -> {caller: status}. "suspended" holds a token made before suspension.
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("api:buildinfo", "GET"): EVERYONE,
    ("api:openapi", "GET"): EVERYONE,
    ("api:agent-bundle", "GET"): EVERYONE,
    ("api:agent-wheels", "GET"): EVERYONE,
    ("api:agent-wheel", "GET"): EVERYONE,
    ("api:users", "GET"): _row(200, 200, 200, 200, 403, 403, 401),
    ("api:users", "POST"): _row(201, 403, 201, 403, 403, 403, 401),
    # Login ignores credentials sent along; each caller logs in as itself (anonymous as target).
    ("api:users-login", "POST"): _row(201, 201, 201, 201, 201, 403, 201),
    ("api:users-logout", "POST"): SIGNED_IN,
    ("api:users-me", "GET"): SIGNED_IN,
    ("api:users-me-tokens", "GET"): SIGNED_IN,
    ("api:users-me-tokens", "POST"): _row(201, 201, 201, 201, 201, 403, 401),
    ("api:users-me-token-detail", "DELETE"): _row(204, 204, 204, 204, 204, 403, 401),
    ("api:user-detail", "GET"): _row(200, 200, 200, 200, 403, 403, 401),
    ("api:user-status", "PUT"): _row(200, 403, 200, 403, 403, 403, 401),
    ("api:user-roles", "PUT"): _row(200, 403, 200, 403, 403, 403, 401),
    ("api:user-unlock", "POST"): _row(200, 403, 200, 403, 403, 403, 401),
    ("api:templates", "GET"): SIGNED_IN,
    ("api:templates", "POST"): _row(201, 201, 403, 403, 403, 403, 401),
    ("api:template-detail", "GET"): SIGNED_IN,
    ("api:template-detail", "PATCH"): _row(200, 200, 403, 403, 403, 403, 401),
    ("api:template-versions", "GET"): SIGNED_IN,
    ("api:template-version-by-name", "GET"): SIGNED_IN,
    ("api:templateversions", "POST"): _row(201, 201, 403, 403, 403, 403, 401),
    ("api:templateversion-detail", "GET"): SIGNED_IN,
    ("api:templateversion-logs", "GET"): SIGNED_IN,
    ("api:files", "POST"): _row(201, 201, 403, 403, 403, 403, 401),
    ("api:file-detail", "GET"): SIGNED_IN,
    ("api:workspaces", "GET"): SIGNED_IN,
    ("api:workspaces", "POST"): _row(201, 201, 201, 201, 201, 403, 401),
    ("api:workspace-detail", "GET"): THEIR_WORKSPACE_READ,
    ("api:user-workspace", "GET"): THEIR_WORKSPACE_READ,
    ("api:workspace-builds", "GET"): THEIR_WORKSPACE_READ,
    ("api:workspace-builds", "POST"): _row(201, 403, 404, 404, 404, 403, 401),
    ("api:workspace-restart", "POST"): _row(201, 403, 404, 404, 404, 403, 401),
    ("api:workspacebuild-detail", "GET"): THEIR_WORKSPACE_READ,
    ("api:workspacebuild-cancel", "PATCH"): _row(200, 403, 404, 404, 404, 403, 401),
    ("api:workspacebuild-logs", "GET"): THEIR_WORKSPACE_READ,
    ("api:workspaceagent-detail", "GET"): THEIR_WORKSPACE_READ,
    ("api:workspaceagent-logs", "GET"): THEIR_WORKSPACE_READ,
    ("api:audit", "GET"): _row(200, 403, 403, 200, 403, 403, 401),
}


def _their_workspace(owner, job_status=JobStatus.SUCCEEDED):
    template = workspace_helpers.buildable_template()
    return factories.workspace(owner, template=template, name="theirs", job_status=job_status)


def _their_agent(owner):
    from workspaces.models import WorkspaceAgent, WorkspaceResource

    ws = _their_workspace(owner)
    resource = WorkspaceResource.objects.create(
        job_id=ws.latest_build.job_id, transition="start", type="terraform_data", name="vm"
    )
    return WorkspaceAgent.objects.create(resource=resource, name="main", token_hash="0" * 64)


AGENT_WHEEL = "demo-1.0-py3-none-any.whl"


def _request(world, caller: str, name: str, method: str) -> tuple[dict, dict | None]:
    """URL kwargs and a body that succeeds when the caller is allowed."""
    me = world.users.get(caller)
    target = world.target
    match name, method:
        case "api:users", "POST":
            return {}, {
                "username": f"new-{caller}",
                "email": f"new-{caller}@example.com",
                "password": STRONG_PASSWORD,
            }
        case "api:users-login", "POST":
            return {}, {"login": (me or target).username, "password": PASSWORD}
        case "api:users-me-tokens", "POST":
            return {}, {"name": "another"}
        case "api:users-me-token-detail", "DELETE":
            token = world.tokens.get(caller, world.tokens["member"])
            return {"token": str(token.id)}, None
        case "api:user-detail", "GET":
            return {"user": str(target.id)}, None
        case "api:user-status", "PUT":
            return {"user": target.username}, {"status": "suspended", "reason": "matrix"}
        case "api:user-unlock", "POST":
            return {"user": target.username}, None
        case "api:user-roles", "PUT":
            # A role a user admin may grant: who grants what is tests/security/test_role_grants.py.
            return {"user": str(target.id)}, {"roles": ["user-admin"]}
        case "api:workspaces", "POST":
            template = workspace_helpers.buildable_template()
            return {}, {"template_id": str(template.id), "name": f"ws-{caller}"}
        case "api:workspace-restart", "POST":
            return {"workspace": str(_their_workspace(target).id)}, {}
        case "api:workspace-detail" | "api:workspace-builds", _:
            ws = _their_workspace(target)
            return {"workspace": str(ws.id)}, {"transition": "stop"} if method == "POST" else None
        case "api:user-workspace", "GET":
            return {"user": target.username, "name": _their_workspace(target).name}, None
        case "api:workspacebuild-detail" | "api:workspacebuild-logs", "GET":
            return {"build": str(_their_workspace(target).latest_build_id)}, None
        case "api:workspaceagent-detail" | "api:workspaceagent-logs", "GET":
            return {"agent": str(_their_agent(target).id)}, None
        case "api:workspacebuild-cancel", "PATCH":
            ws = _their_workspace(target, job_status=JobStatus.PENDING)
            return {"build": str(ws.latest_build_id)}, None
        case "api:templates", "POST":
            version = factories.TemplateVersionFactory(template=None, import_status="succeeded")
            return {}, {"name": f"new-{caller}", "version_id": str(version.id)}
        case "api:template-detail" | "api:template-versions", _:
            template = factories.TemplateFactory()
            return {"template": template.name}, {"description": "x"} if method == "PATCH" else None
        case "api:template-version-by-name", "GET":
            template = factories.TemplateFactory()
            return {"template": str(template.id), "name": template.active_version.name}, None
        case "api:templateversion-detail" | "api:templateversion-logs", "GET":
            return {"version": factories.TemplateFactory().active_version_id}, None
        case "api:templateversions", "POST":
            file = factories.FileFactory(data=template_tar())
            return {}, {"file_hash": file.hash}
        case "api:files", "POST":
            return {}, template_tar()
        case "api:agent-wheel", "GET":
            return {"filename": AGENT_WHEEL}, None
        case "api:file-detail", "GET":
            return {"hash": factories.TemplateFactory().active_version.file_id}, None
    return {}, None


def _implemented_methods(view_class) -> list[str]:
    """Methods the view itself handles; OPTIONS/HEAD that only DRF provides are left out."""
    return [
        m.upper()
        for m in view_class.http_method_names
        if hasattr(view_class, m) and getattr(view_class, m) is not getattr(APIView, m, None)
    ]


def api_endpoints() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()

    def walk(patterns, prefix: str, namespaces: list[str]) -> None:
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(
                    p.url_patterns, route, namespaces + [p.namespace] if p.namespace else namespaces
                )
            elif isinstance(p, URLPattern) and route.startswith(API_PREFIX):
                name = ":".join([*namespaces, p.name or route])
                view_class = getattr(p.callback, "cls", None) or getattr(
                    p.callback, "view_class", None
                )
                if view_class is None:  # a function view: its methods cannot be read
                    found.add((name, "?"))
                    continue
                found.update((name, m) for m in _implemented_methods(view_class))

    walk(get_resolver().url_patterns, "", [])
    return found


ENDPOINTS = sorted(api_endpoints() | set(MATRIX))


def test_every_endpoint_has_a_matrix_row_and_every_row_an_endpoint():
    discovered = api_endpoints()
    assert len(discovered) >= 15, discovered  # the walk found the API at all
    assert not discovered - set(MATRIX), "endpoints without a row in MATRIX"
    assert not set(MATRIX) - discovered, "rows in MATRIX for endpoints that do not exist"
    for key, row in MATRIX.items():
        assert set(row) == set(CALLERS), key


@pytest.mark.django_db
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("name", "method"), ENDPOINTS)
def test_status_code(world, name, method, caller, monkeypatch, tmp_path):
    assert (name, method) in MATRIX, f"{method} {name} has no row in MATRIX"
    (tmp_path / AGENT_WHEEL).write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
    monkeypatch.setattr(agent_bundle, "wheelhouse", lambda: tmp_path)
    kwargs, body = _request(world, caller, name, method)
    client = world.clients[caller]
    if isinstance(body, bytes):  # an upload: the raw archive, not JSON
        response = client.generic(method, reverse(name, kwargs=kwargs), body, "application/gzip")
    else:
        response = getattr(client, method.lower())(
            reverse(name, kwargs=kwargs), body, format="json" if body is not None else None
        )
    expected = MATRIX[name, method][caller]
    assert response.status_code == expected, response.content[:500]
    if 400 <= response.status_code < 500:
        assert set(response.json()) == {"message", "detail", "validations"}
