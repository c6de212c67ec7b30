"""GET /api/v2/audit: the parameters it always had, ?q= search, pagination, roles, the gate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from enterprise.audit import pagination
from portal.accounts import services
from portal.audit import services as audit
from portal.audit.models import AuditEntry
from portal.errors import Unauthenticated

pytestmark = pytest.mark.django_db


@pytest.fixture
def audit_log(owner, member, make_user):
    """Entries written by real services: creating users, a token, a failed login."""
    services.create_token(member, actor=member, name="ci")
    with pytest.raises(Unauthenticated):
        services.authenticate_password("alice", "wrong")


def _audit(client, **params):
    r = client.get("/api/v2/audit", params)
    assert r.status_code == 200, r.content
    return r.json()["results"]


def test_audit_filters(owner, client_for, audit_log):
    client = client_for(owner)
    created = _audit(client, action="create", resource_type="api_token")
    assert [(e["actor_username"], e["resource_target"]) for e in created] == [("alice", "ci")]
    failed = _audit(client, action="login_failed")
    assert [e["resource_target"] for e in failed] == ["alice"]
    assert {e["action"] for e in _audit(client, username="ALICE")} == {"create", "login_failed"}
    users = _audit(client, resource_type="user", action="create")
    assert {e["resource_target"] for e in users} == {"admin", "alice"}


def test_audit_since_until(owner, client_for, audit_log):
    client = client_for(owner)
    old = AuditEntry.objects.get(action="login_failed")
    AuditEntry.objects.filter(pk=old.pk).update(time=timezone.now() - timedelta(days=10))
    week_ago = (timezone.now() - timedelta(days=7)).isoformat()
    recent = _audit(client, since=week_ago)
    assert old.pk not in {e["id"] for e in recent}
    assert [e["id"] for e in _audit(client, until=week_ago)] == [old.pk]
    day = (timezone.now() - timedelta(days=10)).date().isoformat()
    assert old.pk in {e["id"] for e in _audit(client, since=day, until=day)}
    assert _audit(client, since=(timezone.now() + timedelta(days=1)).isoformat()) == []


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", "2024-02-30T10:00:00"])
def test_audit_invalid_date_is_400(owner, client_for, value):
    r = client_for(owner).get("/api/v2/audit", {"since": value})
    assert r.status_code == 400
    assert r.json()["validations"] == [
        {"field": "since", "detail": "Use an ISO 8601 date or date-time."}
    ]


# ---------------------------------------------------------------- ?q= search


def _q(client, q, **params):
    r = client.get("/api/v2/audit", {"q": q, **params})
    assert r.status_code == 200, r.content
    return r.json()["results"]


def _build_entry(actor, *, reason="autostop", target="dev #1", status=200):
    return audit.record(
        actor=actor,
        action="write",
        resource_type="workspace_build",
        resource_id="b-1",
        resource_target=target,
        additional_fields={
            "workspace_id": "w",
            "build_number": 1,
            "transition": "start",
            "reason": reason,
            "cancel": False,
        },
        status_code=status,
        build_initiator_id=actor.pk,
        build_reason=reason,
    )


def test_each_filter_key(owner, member, client_for, history):
    client = client_for(owner)
    _build_entry(owner)
    assert [e["resource_target"] for e in _q(client, "action:create resource_type:api_token")] == [
        "ci"
    ]
    token = AuditEntry.objects.get(resource_type="api_token")
    assert [e["id"] for e in _q(client, f"resource_id:{token.resource_id}")] == [token.pk]
    assert {e["action"] for e in _q(client, "username:ALICE")} == {"create", "login_failed"}
    assert {e["action"] for e in _q(client, "email:Alice@Example.com")} == {
        "create",
        "login_failed",
    }
    assert [e["resource_target"] for e in _q(client, "build_reason:autostop")] == ["dev #1"]
    assert [e["action"] for e in _q(client, "status:401")] == ["login_failed"]
    assert [e["action"] for e in _q(client, "status:4xx")] == ["login_failed"]
    assert _q(client, "status:5xx") == []


def test_a_key_twice_is_either_value_and_keys_combine(owner, client_for, history):
    client = client_for(owner)
    both = _q(client, "action:suspend action:login_failed")
    assert {e["action"] for e in both} == {"suspend", "login_failed"}
    assert [
        e["action"] for e in _q(client, "action:suspend action:login_failed username:admin")
    ] == ["suspend"]


def test_date_from_and_date_to(owner, client_for, history):
    client = client_for(owner)
    history.refresh_from_db()
    day = history.time.date().isoformat()
    assert [e["id"] for e in _q(client, f"date_from:{day} date_to:{day}")] == [history.pk]
    week_ago = (timezone.now() - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S")
    assert history.pk not in {e["id"] for e in _q(client, f"date_from:{week_ago}")}
    assert [e["id"] for e in _q(client, f"date_to:{week_ago}")] == [history.pk]


def test_free_text_matches_target_username_resource_id_and_request_id(owner, client_for, history):
    client = client_for(owner)
    _build_entry(owner, target="Team Alpha box")
    assert [e["resource_target"] for e in _q(client, "alpha")] == ["Team Alpha box"]
    assert [e["resource_target"] for e in _q(client, '"team alpha"')] == ["Team Alpha box"]
    assert _q(client, '"alpha team"') == []
    assert [e["id"] for e in _q(client, "REQ-OLD")] == [history.pk]
    assert [e["resource_id"] for e in _q(client, "b-1")] == ["b-1"]
    # every word must match; a LIKE wildcard is a plain character
    assert _q(client, "alpha nothing-like-this") == []
    assert _q(client, "%") == []


def test_quoted_values(owner, client_for, history):
    _build_entry(owner, target="dev box")
    client = client_for(owner)
    assert _q(client, 'username:"admin" action:"write"')[0]["resource_target"] == "dev box"


@pytest.mark.parametrize(
    ("q", "problem"),
    [
        ("colour:red", "Unknown filter colour:"),
        ("action:explode", "action:explode is not an audit action."),
        ("resource_type:spaceship", "resource_type:spaceship is not an audit resource type."),
        ("status:abc", "status:abc is not a status code (403) or class (4xx)."),
        ("status:999", "status:999 is not a status code"),
        ("date_from:yesterday", "date_from:yesterday is not an ISO 8601 date or date-time."),
        ("date_to:2024-02-30", "date_to:2024-02-30 is not an ISO 8601 date"),
        ("username:", "username: needs a value."),
        ('target "open', 'A quote (") is not closed.'),
    ],
)
def test_bad_queries_are_400_naming_the_problem(owner, client_for, q, problem):
    r = client_for(owner).get("/api/v2/audit", {"q": q})
    assert r.status_code == 400
    body = r.json()
    assert body["validations"][0]["field"] == "q"
    assert problem in body["validations"][0]["detail"]
    assert problem in body["message"]


@pytest.mark.parametrize(
    "q",
    [
        "a:b:c",
        "ü:x",
        "::",
        ":loose",
        '""',
        "x" * 1001,
        "status:",
        "\x00",
        "date_from:9999-99-99",
        "date_to:9999-12-31",
        "date_from:0001-01-01",
    ],
)
def test_odd_queries_are_answered_never_a_server_error(owner, client_for, q):
    assert client_for(owner).get("/api/v2/audit", {"q": q}).status_code in (200, 400)
    assert client_for(owner).get("/api/v2/audit/export", {"q": q}).status_code in (200, 400)


def test_every_bad_part_is_named_at_once(owner, client_for):
    r = client_for(owner).get("/api/v2/audit", {"q": "colour:red action:explode"})
    details = [v["detail"] for v in r.json()["validations"]]
    assert len(details) == 2 and "colour" in details[0] and "explode" in details[1]


def test_pages_and_a_capped_count(owner, client_for, monkeypatch):
    AuditEntry.objects.bulk_create(
        AuditEntry(action="unlock", resource_type="user", resource_target=f"u{i}") for i in range(7)
    )
    client = client_for(owner)
    first = client.get("/api/v2/audit", {"q": "action:unlock", "limit": 3}).json()
    assert first["count"] == 7 and first["count_capped"] is False
    last = client.get("/api/v2/audit", {"q": "action:unlock", "limit": 3, "offset": 6}).json()
    assert last["count"] == 7 and len(last["results"]) == 1
    seen = [e["resource_target"] for e in first["results"]]
    second = client.get("/api/v2/audit", {"q": "action:unlock", "limit": 3, "offset": 3}).json()
    assert not set(seen) & {e["resource_target"] for e in second["results"]}
    monkeypatch.setattr(pagination, "COUNT_CAP", 5)
    capped = client.get("/api/v2/audit", {"q": "action:unlock", "limit": 2}).json()
    assert capped["count"] == 5 and capped["count_capped"] is True


def test_auditors_and_owners_read_members_are_refused(owner, auditor, member, client_for, history):
    assert client_for(auditor).get("/api/v2/audit", {"q": "action:suspend"}).status_code == 200
    assert client_for(owner).get("/api/v2/audit").status_code == 200
    r = client_for(member).get("/api/v2/audit", {"q": "username:alice"})
    assert r.status_code == 403
    assert "results" not in r.json()


def test_with_the_gate_off_the_api_names_the_feature_and_entries_are_still_recorded(
    owner, member, client_for, gate_off
):
    client = client_for(owner)
    r = client.get("/api/v2/audit")
    assert r.status_code == 403
    assert r.json()["message"] == (
        "The audit log: browsing, exporting and streaming audit entries to a SIEM needs a "
        "license with the audit_log feature."
    )
    assert client.get("/api/v2/audit/export").status_code == 403
    services.create_token(member, actor=member, name="still-recorded")
    assert AuditEntry.objects.filter(resource_target="still-recorded").exists()
    # a member still gets the role refusal, not a word about licenses
    assert "license" not in client_for(member).get("/api/v2/audit").json()["message"]
