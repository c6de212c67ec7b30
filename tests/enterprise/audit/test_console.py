"""The audit log in the console: read-only, filtered by actor, action, type and time."""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.accounts import services
from portal.audit import services as audit
from portal.audit.models import AuditEntry

pytestmark = pytest.mark.django_db

AUDIT = "/admin/audit/auditentry/"


@pytest.fixture
def history(owner, member):
    services.suspend_user(member, actor=owner, reason="left the team")
    services.create_token(member, actor=member, name="ci")
    old = AuditEntry.objects.get(action="suspend")
    AuditEntry.objects.filter(pk=old.pk).update(
        time=timezone.now() - timedelta(days=10), request_id="req-old-1"
    )


def _targets(response) -> list[tuple[str, str]]:
    assert response.status_code == 200
    return [(e.action, e.resource_target) for e in response.context["cl"].result_list]


def test_filter_by_actor_action_and_resource_type(console, owner, history):
    client = console(owner)
    assert _targets(client.get(AUDIT, {"action__exact": "suspend"})) == [("suspend", "alice")]
    assert _targets(client.get(AUDIT, {"resource_type__exact": "api_token"})) == [("create", "ci")]
    by_alice = _targets(client.get(AUDIT, {"actor_username": "alice"}))
    assert ("create", "ci") in by_alice
    assert ("suspend", "alice") not in by_alice


def test_since_and_until_bound_the_time(console, owner, history):
    client = console(owner)
    week_ago = (timezone.now() - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    recent = _targets(client.get(AUDIT, {"since": week_ago}))
    older = _targets(client.get(AUDIT, {"until": week_ago}))
    assert ("suspend", "alice") in older and ("suspend", "alice") not in recent
    assert ("create", "ci") in recent and ("create", "ci") not in older
    day = (timezone.now() - timedelta(days=10)).date().isoformat()
    assert ("suspend", "alice") in _targets(client.get(AUDIT, {"since": day, "until": day}))


def test_a_malformed_date_does_not_break_the_page(console, owner, history):
    response = console(owner).get(AUDIT, {"since": "last tuesday"}, follow=True)
    assert response.status_code == 200


def test_search_by_request_id_and_target(console, owner, history):
    client = console(owner)
    assert _targets(client.get(AUDIT, {"q": "req-old-1"})) == [("suspend", "alice")]
    assert _targets(client.get(AUDIT, {"q": "ci"})) == [("create", "ci")]


def test_detail_shows_the_diff_and_additional_fields(console, owner, history):
    entry = AuditEntry.objects.get(action="suspend")
    page = console(owner).get(f"{AUDIT}{entry.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<table class="portal-diff">' in html
    assert "<td>status</td><td>active</td><td>suspended</td>" in html
    assert "&quot;reason&quot;: &quot;left the team&quot;" in html
    assert 'name="_save"' not in html


def test_entries_cannot_be_edited_or_deleted(console, owner, history):
    entry = AuditEntry.objects.get(action="suspend")
    client = console(owner)
    assert client.post(f"{AUDIT}{entry.pk}/change/", {"action": "login"}).status_code == 403
    assert client.post(f"{AUDIT}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"{AUDIT}add/").status_code == 403
    assert AuditEntry.objects.get(pk=entry.pk).action == "suspend"


def test_a_build_entry_shows_its_initiator_and_reason(console, owner, member):
    entry = audit.record(
        actor=owner,
        action="write",
        resource_type="workspace_build",
        resource_target="dev #1",
        additional_fields={
            "workspace_id": "w",
            "build_number": 1,
            "transition": "start",
            "reason": "autostop",
            "cancel": True,
        },
        build_initiator_id=member.pk,
        build_reason="autostop",
    )
    client = console(owner)
    assert _targets(client.get(AUDIT, {"build_reason": "autostop"})) == [("write", "dev #1")]
    html = client.get(f"{AUDIT}{entry.pk}/change/").content.decode()
    assert f'/admin/accounts/user/{member.pk}/change/">alice</a>' in html
    assert "autostop" in html


def test_the_search_box_speaks_the_search_syntax(console, owner, history):
    client = console(owner)
    assert _targets(client.get(AUDIT, {"q": "action:suspend username:admin"})) == [
        ("suspend", "alice")
    ]
    assert _targets(client.get(AUDIT, {"q": "resource_type:api_token"})) == [("create", "ci")]
    page = client.get(AUDIT, {"q": "colour:red"})
    assert _targets(page) == []
    assert "Unknown filter colour:" in page.content.decode()


def test_the_list_links_to_exports_of_its_search(console, owner, history):
    html = console(owner).get(AUDIT, {"q": "action:suspend"}).content.decode()
    assert 'href="/api/v2/audit/export?q=action%3Asuspend&amp;format=csv"' in html
    assert 'href="/api/v2/audit/export?q=action%3Asuspend&amp;format=ndjson"' in html


def test_with_the_gate_off_the_console_names_the_feature(console, owner, history, gate_off):
    client = console(owner)
    page = client.get(AUDIT)
    assert page.status_code == 403
    assert "needs a license with the audit_log feature" in page.content.decode()
    entry = AuditEntry.objects.get(action="suspend")
    assert client.get(f"{AUDIT}{entry.pk}/change/").status_code == 403


def test_members_do_not_see_the_audit_log(console, member):
    assert console(member).get(AUDIT).status_code in (302, 403)
