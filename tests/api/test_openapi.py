"""The OpenAPI document: served as JSON, valid, complete, and generated without warnings."""

from __future__ import annotations

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_openapi_json_is_a_valid_document(anon):
    r = anon.get("/api/v2/openapi.json")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("application/vnd.oai.openapi+json")
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    for path in (
        "/api/v2/users/login",
        "/api/v2/users/me",
        "/api/v2/users/me/tokens/{token}",
        "/api/v2/users/{user}/roles",
        "/api/v2/workspaces",
        "/api/v2/audit",
    ):
        assert path in doc["paths"], path
    assert doc["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"


def test_list_endpoints_are_documented_as_pages(anon):
    paths = anon.get("/api/v2/openapi.json").json()["paths"]
    for path in ("/api/v2/users", "/api/v2/workspaces", "/api/v2/templates", "/api/v2/audit"):
        get = paths[path]["get"]
        assert {"limit", "offset"} <= {p["name"] for p in get["parameters"]}, path
        schema = get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert schema.rsplit("/", 1)[-1].startswith("Paginated"), path


def test_schema_generation_has_no_warnings_and_validates(tmp_path):
    # --fail-on-warn turns any drf-spectacular warning or error into a failure.
    out = tmp_path / "openapi.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert out.read_text().startswith("openapi: 3.")
