"""What provisioning does around the user: hooks, a deactivated user's workspaces."""

from __future__ import annotations

import pytest

from portal import hooks
from portal.accounts.choices import UserStatus
from portal.accounts.models import User
from tests.enterprise.scim import payloads
from tests.enterprise.scim.conftest import user_doc
from tests.workspaces.test_suspension import _running
from workspaces.choices import BuildTransition

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def enqueued(monkeypatch) -> list:
    from workspaces.builds import dispatch

    sent: list = []
    monkeypatch.setattr(dispatch, "enqueue", sent.append)
    return sent


def test_a_user_created_inactive_is_suspended(scim):
    response = scim.post("/Users", user_doc("late@example.com", active=False))
    assert response.status_code == 201 and response.data["active"] is False
    assert User.objects.get(pk=response.data["id"]).status == UserStatus.SUSPENDED


def test_the_idp_user_synced_hook_hears_scim(scim):
    heard = []

    def listen(user, *, source, created, claims):
        heard.append((user.email, source, created, claims["userName"]))

    hooks.idp_user_synced.register(listen)
    try:
        user = scim.post("/Users", user_doc("hook@example.com")).data
        scim.patch(f"/Users/{user['id']}", {"op": "replace", "path": "title", "value": "x"})
    finally:
        hooks.idp_user_synced.unregister(listen)
    assert heard == [
        ("hook@example.com", "scim", True, "hook@example.com"),
        ("hook@example.com", "scim", False, "hook@example.com"),
    ]


def test_deactivating_a_user_stops_their_running_workspace(
    scim, django_capture_on_commit_callbacks
):
    created = scim.post("/Users", user_doc("dev@example.com")).data
    user = User.objects.get(pk=created["id"])
    workspace = _running(user, "box")
    with django_capture_on_commit_callbacks(execute=True):
        r = scim.patch_body(f"/Users/{user.pk}", payloads.okta_set_active(False))
    assert r.status_code == 200
    workspace.refresh_from_db()
    assert workspace.latest_build.transition == BuildTransition.STOP
    assert workspace.deleted_at is None  # kept
