"""Every API error has one JSON shape and the right status code."""

from __future__ import annotations

import pytest
from django.http import HttpRequest
from rest_framework.test import APIClient

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

ERROR_KEYS = {"message", "detail", "validations"}


def _is_error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["message"]
    assert isinstance(body["validations"], list)
    return body


@pytest.mark.parametrize(
    "path", ["/api/v2/nothing-here", "/api/v2/users/alice/nothing", "/api/v2/templates/x/y"]
)
def test_unknown_api_path_is_404_json(member, client_for, path):
    body = _is_error(client_for(member).get(path), 404)
    assert path in body["message"]


def test_unknown_path_is_404_json_even_anonymous(anon):
    _is_error(anon.get("/api/v2/nothing-here"), 404)


def test_401_has_www_authenticate(anon):
    r = anon.get("/api/v2/users/me")
    _is_error(r, 401)
    assert r["WWW-Authenticate"] == 'Bearer realm="portal"'


def test_bad_token_401_has_www_authenticate():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer nonsense")
    r = client.get("/api/v2/users/me")
    _is_error(r, 401)
    assert r["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/api/v2/users/login", "/api/v2/users"])
def test_malformed_json_is_400(owner, client_for, path):
    client = client_for(owner)
    body = _is_error(client.post(path, b'{"username": ', content_type="application/json"), 400)
    assert "JSON" in body["message"]


def test_wrong_content_type_is_415(owner, client_for):
    r = client_for(owner).post("/api/v2/users", "username=bob", content_type="text/plain")
    _is_error(r, 415)


def test_method_not_allowed_is_405_json(owner, client_for):
    _is_error(client_for(owner).delete("/api/v2/users"), 405)


def test_validation_errors_name_each_field(anon):
    body = _is_error(anon.post("/api/v2/users/login", {}, format="json"), 400)
    assert {v["field"] for v in body["validations"]} == {"password"}
    assert all(v["detail"] for v in body["validations"])


def test_wrong_password_is_401_json(member, anon):
    r = anon.post("/api/v2/users/login", {"login": "alice", "password": "x"}, format="json")
    _is_error(r, 401)


def test_session_cookie_writes_need_the_csrf_token(owner):
    browser = APIClient(enforce_csrf_checks=True)
    # A request, as every real sign-in has: the throttling backend (axes) refuses one without.
    assert browser.login(request=HttpRequest(), username="admin", password=PASSWORD)
    assert browser.get("/api/v2/users/me").status_code == 200
    body = _is_error(browser.post("/api/v2/users/me/tokens", {"name": "x"}, format="json"), 403)
    assert "CSRF" in body["message"]
