"""A failed sign-in is audited whichever door it knocks on: API, web portal, console."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.audit.models import AuditEntry

pytestmark = pytest.mark.django_db
WRONG = "Not-her-passw0rd"


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/api/v2/users/login", {"login": "alice", "password": WRONG}),
        ("/login", {"login": "alice", "password": WRONG}),
        ("/admin/login/", {"username": "alice", "password": WRONG}),
    ],
)
def test_a_wrong_password_is_a_login_failed_entry(member, path, fields):
    client = Client()
    if path.startswith("/api/"):
        response = client.post(path, fields, content_type="application/json")
    else:
        response = client.post(path, fields)
    assert response.status_code in (200, 400, 401)
    entry = AuditEntry.objects.get(action="login_failed")
    assert (entry.resource_type, entry.resource_target) == ("user", "alice")
    assert entry.status_code in (401, 403)
    assert WRONG not in repr(entry.additional_fields)
