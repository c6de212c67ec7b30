"""Fixtures for the SCIM tests: a live key and a client that sends it."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from enterprise.scim import keys

SCIM = "application/scim+json"


class ScimClient:
    """Django's test client speaking SCIM JSON with a bearer key."""

    def __init__(self, secret: str | None):
        self.client = Client(enforce_csrf_checks=True)  # IdPs send no CSRF token
        self.secret = secret

    def _headers(self):
        return {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"} if self.secret else {}

    def _call(self, method: str, path: str, body=None, **params):
        url = "/scim/v2" + path
        call = getattr(self.client, method)
        if body is None:
            response = call(url, params or None, **self._headers())
        else:
            response = call(url, json.dumps(body), content_type=SCIM, **self._headers())
        response.data = json.loads(response.content) if response.content else None
        return response

    def get(self, path, **params):
        return self._call("get", path, **params)

    def post(self, path, body):
        return self._call("post", path, body)

    def put(self, path, body):
        return self._call("put", path, body)

    def patch(self, path, *operations):
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": list(operations),
        }
        return self._call("patch", path, body)

    def patch_body(self, path, body):
        return self._call("patch", path, body)

    def delete(self, path):
        return self._call("delete", path)


@pytest.fixture
def scim_key(owner):
    key, secret = keys.create_key(actor=owner, name="okta")
    return key, secret


@pytest.fixture
def scim(scim_key):
    return ScimClient(scim_key[1])


def user_doc(user_name: str, **extra) -> dict:
    doc = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [
            {
                "value": user_name if "@" in user_name else f"{user_name}@example.com",
                "type": "work",
                "primary": True,
            }
        ],
        "active": True,
    }
    doc.update(extra)
    return doc
