"""GET /api/v2/users/{user}/quota and Coder's /api/v2/workspace-quota/{user}."""

from __future__ import annotations

import pytest

from portal.accounts.choices import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def spending(allow, member, costing):
    allow(10)
    allow(5, member)
    costing(member, 4)
    costing(member, 2, transition="stop")
    return member


@pytest.mark.parametrize("path", ["/api/v2/users/{user}/quota", "/api/v2/workspace-quota/{user}"])
def test_the_user_reads_their_quota_in_coders_shape(spending, client_for, path):
    client = client_for(spending)
    for ref in ("me", "alice", str(spending.pk)):
        r = client.get(path.format(user=ref))
        assert r.status_code == 200, r.content
        assert r.json() == {"credits_consumed": 6, "budget": 15}


@pytest.mark.parametrize("role", [Role.OWNER, Role.USER_ADMIN])
def test_owners_and_user_admins_read_anyones(spending, client_for, make_user, role):
    r = client_for(make_user(role)).get("/api/v2/users/alice/quota")
    assert r.json() == {"credits_consumed": 6, "budget": 15}


@pytest.mark.parametrize("role", [Role.MEMBER, Role.TEMPLATE_ADMIN, Role.AUDITOR])
def test_anyone_else_is_told_the_user_does_not_exist(spending, client_for, make_user, role):
    client = client_for(make_user(role))
    seen = client.get("/api/v2/users/alice/quota")
    unseen = client.get("/api/v2/users/nobody/quota")
    assert seen.status_code == unseen.status_code == 404
    assert seen.json()["message"] == "No user 'alice'."
    assert client.get("/api/v2/workspace-quota/alice").status_code == 404


def test_gate_off_is_a_403_naming_the_feature_and_the_license(gate_off, spending, client_for):
    r = client_for(spending).get("/api/v2/users/me/quota")
    assert r.status_code == 403
    assert r.json()["message"] == (
        "Per-user and per-group workspace cost quotas checked before builds needs a license "
        "with the workspace_quota feature."
    )
    assert client_for(spending).get("/api/v2/workspace-quota/me").status_code == 403


def test_a_user_with_nothing_has_zero_of_everyones_allowance(client_for, make_user, allow):
    allow(3)
    assert client_for(make_user()).get("/api/v2/users/me/quota").json() == {
        "credits_consumed": 0,
        "budget": 3,
    }
