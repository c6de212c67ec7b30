"""Discovery documents tell the truth about what this server supports."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def test_service_provider_config(scim):
    config = scim.get("/ServiceProviderConfig").data
    assert config["patch"] == {"supported": True}
    assert config["filter"] == {"supported": True, "maxResults": 1000}
    assert config["bulk"]["supported"] is False
    assert config["sort"] == config["etag"] == config["changePassword"] == {"supported": False}
    assert [s["type"] for s in config["authenticationSchemes"]] == ["oauthbearertoken"]


def test_resource_types_relative_endpoints_absolute_locations(scim):
    listing = scim.get("/ResourceTypes").data
    assert listing["schemas"] == [LIST] and listing["totalResults"] == 2
    by_id = {r["id"]: r for r in listing["Resources"]}
    assert by_id["User"]["endpoint"] == "/Users" and by_id["Group"]["endpoint"] == "/Groups"
    assert by_id["User"]["meta"]["location"] == "http://testserver/scim/v2/ResourceTypes/User"
    assert (
        scim.get("/ResourceTypes/Group").data["schema"]
        == "urn:ietf:params:scim:schemas:core:2.0:Group"
    )
    assert scim.get("/ResourceTypes/Nope").status_code == 404


def test_schemas(scim):
    listing = scim.get("/Schemas").data
    assert listing["totalResults"] == 3
    ids = {s["id"] for s in listing["Resources"]}
    assert "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" in ids
    user = scim.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").data
    assert user["meta"]["location"].startswith("http://testserver/scim/v2/Schemas/")
    assert scim.post("/Schemas", {}).status_code == 405
