"""Schema URNs and the schemas served at /Schemas (django-scim2's RFC 7643 JSON files)."""

from __future__ import annotations

import copy

from django_scim.constants import SchemaURI
from django_scim.schemas import ALL

USER = SchemaURI.USER
GROUP = SchemaURI.GROUP
ENTERPRISE_USER = SchemaURI.ENTERPRISE_USER
LIST_RESPONSE = SchemaURI.LIST_RESPONSE
SEARCH_REQUEST = SchemaURI.SERACH_REQUEST  # sic: django-scim2's spelling
PATCH_OP = SchemaURI.PATCH_OP
RESOURCE_TYPE = SchemaURI.RESOURCE_TYPE
SERVICE_PROVIDER_CONFIG = SchemaURI.SERVICE_PROVIDER_CONFIG
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"

# The resource schemas this server implements (the others in django-scim2's set describe
# discovery documents, which /Schemas does not list).
SERVED = (USER, GROUP, ENTERPRISE_USER)


def served() -> list[dict]:
    by_id = {schema["id"]: schema for schema in ALL}
    return [copy.deepcopy(by_id[urn]) for urn in SERVED]
