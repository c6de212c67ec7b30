"""GET /api/v2/audit/streams, the console page, and the audit_log feature gate."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from enterprise.audit_stream import delivery
from enterprise.audit_stream.models import OutboxRow
from licensing.cache import gate_cache
from licensing.models import License
from portal.accounts.choices import Role
from portal.audit.models import AuditEntry

STREAMS = "/api/v2/audit/streams"


def test_owners_and_auditors_see_each_destination(make_user, client_for, webhook, record):
    owner, auditor = make_user(Role.OWNER), make_user(Role.AUDITOR)
    owner_api, auditor_api = client_for(owner), client_for(auditor)  # their sign-ins are audited
    delivery.deliver_all()  # their creation and sign-in entries
    delivered = len(webhook.documents())
    webhook.stop()
    record(4)
    delivery.deliver_all()  # refused: the receiver is down

    for api in (owner_api, auditor_api):
        response = api.get(STREAMS)
        assert response.status_code == 200
        [stream] = response.json()
        assert stream["name"] == "webhook" and stream["target"] == webhook.url
        assert stream["configured"] is True and stream["backlog"] == 4
        assert stream["oldest_undelivered_age_seconds"] >= 0
        assert stream["oldest_undelivered_at"] is not None
        assert stream["last_success_at"] is not None and stream["delivered"] == delivered == 4
        assert "webhook http://127.0.0.1" in stream["last_error"] and stream["attempts"] == 1
        assert stream["next_attempt_at"] > stream["last_error_at"]


def test_members_are_refused_and_strangers_asked_to_sign_in(member, client_for, anon, webhook):
    response = client_for(member).get(STREAMS)
    assert response.status_code == 403 and "message" in response.json()
    assert anon.get(STREAMS).status_code == 401


def test_a_secret_in_the_webhook_url_is_never_shown(owner, client_for, configure):
    configure(PORTAL_AUDIT_WEBHOOK_URL="https://bob:pw@siem.example.com/in?token=s3cret")
    [stream] = client_for(owner).get(STREAMS).json()
    assert stream["target"] == "https://siem.example.com/in"


def test_gate_off_queues_nothing_pauses_delivery_and_refuses_the_api(
    owner, client_for, webhook, record, license_without_audit_log
):
    api = client_for(owner)
    delivery.deliver_all()
    queued = record(3)  # before the license: queued
    license_without_audit_log()

    record(2)  # gate off: nothing new is queued
    assert sorted(OutboxRow.objects.values_list("entry_id", flat=True)) == queued
    assert delivery.deliver_all() == {}  # paused, rows kept
    assert OutboxRow.objects.count() == 3
    response = api.get(STREAMS)
    assert response.status_code == 403
    assert "audit_log feature" in response.json()["message"]
    assert "license" in response.json()["message"]

    License.objects.all().delete()  # back to evaluation: every gate on
    gate_cache.invalidate()
    before = len(webhook.documents())
    assert delivery.deliver_all(now=timezone.now() + timedelta(seconds=1)) == {"webhook": 3}
    assert [d["id"] for d in webhook.documents()[before:]] == queued


def test_the_console_page_shows_backlog_and_errors(client, owner, webhook, record):
    client.force_login(owner)
    webhook.stop()
    record(2)
    delivery.deliver_all()
    page = client.get("/admin/audit_stream/streamdestination/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "webhook" in text and webhook.url in text
    assert "Connection refused" in text or "connect" in text.lower()


def test_the_console_page_says_delivery_is_paused_with_the_gate_off(
    client, owner, webhook, license_without_audit_log
):
    client.force_login(owner)
    license_without_audit_log()
    page = client.get("/admin/audit_stream/streamdestination/", follow=True)
    assert b"Delivery is paused (the backlog is kept)" in page.content
    assert b"audit_log feature" in page.content


def test_the_console_page_is_not_for_members(client, member):
    client.force_login(member)
    page = client.get("/admin/audit_stream/streamdestination/")
    assert page.status_code in (302, 403)


def test_an_owner_resends_what_the_receiver_refused(owner, client_for, webhook, record):
    api = client_for(owner)
    delivery.deliver_all()
    webhook.statuses = [401]  # a wrong token: the batch is refused for good
    refused = record(3)
    assert delivery.deliver_all() == {"webhook": 0}
    assert api.get(STREAMS).json()[0]["refused"] == 3

    response = api.post(f"{STREAMS}/webhook/resend")
    assert response.status_code == 200 and response.json() == {"name": "webhook", "resent": 3}
    entry = AuditEntry.objects.filter(resource_type="audit_stream").get()
    assert entry.actor == owner and entry.additional_fields == {"resent": 3}
    assert delivery.deliver_all() == {"webhook": 4}  # the three, then the resend's own entry
    assert [d["id"] for d in webhook.documents()[-4:]] == [*refused, entry.id]
    assert api.post(f"{STREAMS}/webhook/resend").json()["resent"] == 0


def test_resend_refuses_bad_input_and_other_roles(owner, make_user, client_for, webhook):
    api = client_for(owner)
    response = api.post(f"{STREAMS}/webhook/resend", {"all": True}, format="json")
    assert response.status_code == 400
    assert response.json()["validations"][0]["field"] == "all"
    response = api.post(f"{STREAMS}/webhook/resend", [1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["validations"][0]["field"] == "body"
    response = api.post(f"{STREAMS}/nowhere/resend")
    assert response.status_code == 404 and "No audit stream named" in response.json()["message"]
    auditor = client_for(make_user(Role.AUDITOR))
    assert auditor.post(f"{STREAMS}/webhook/resend").status_code == 403


def test_the_console_action_resends(client, owner, webhook, record):
    delivery.deliver_all()
    webhook.statuses = [403]
    record(2)
    delivery.deliver_all()
    client.force_login(owner)
    page = client.post(
        "/admin/audit_stream/streamdestination/",
        {"action": "resend_refused", "_selected_action": ["webhook"]},
        follow=True,
    )
    assert page.status_code == 200 and b"Queued the refused entries again" in page.content
    assert not OutboxRow.objects.filter(dead_at__isnull=False).exists()
