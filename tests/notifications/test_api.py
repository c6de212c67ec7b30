"""The notifications API as its users meet it: inbox, preferences, owners' messages, the test."""

from __future__ import annotations

import pytest

from portal.audit.models import AuditEntry
from portal.notifications import services, tasks
from portal.notifications.models import Delivery

pytestmark = pytest.mark.django_db

FAILED = {"workspace": "dev", "transition": "start", "error": "exit 1"}


def _send(user, kind="build_failed", **context):
    return services.notify(kind, user, context={**FAILED, **context})


def test_inbox_newest_first_unread_filter_and_counts(make_user, client_for):
    alice = make_user()
    first, second, third = (_send(alice, workspace=f"ws{i}") for i in range(3))
    api = client_for(alice)
    page = api.get("/api/v2/notifications/inbox?limit=2").json()
    assert page["count"] == 3 and page["unread_count"] == 3
    assert [r["id"] for r in page["results"]] == [str(third.pk), str(second.pk)]
    r = api.put(
        f"/api/v2/notifications/inbox/{second.pk}/read-status", {"is_read": True}, format="json"
    )
    assert r.status_code == 200 and r.json()["is_read"] is True
    unread = api.get("/api/v2/notifications/inbox?unread=true").json()
    assert [x["id"] for x in unread["results"]] == [str(third.pk), str(first.pk)]
    assert unread["unread_count"] == 2
    marked = api.put("/api/v2/notifications/inbox/mark-all-as-read").json()
    assert marked == {"marked": 2, "unread_count": 0}
    back = api.put(
        f"/api/v2/notifications/inbox/{first.pk}/read-status", {"is_read": False}, format="json"
    )
    assert back.json()["is_read"] is False
    assert api.get("/api/v2/notifications/inbox").json()["unread_count"] == 1


def test_another_users_notification_is_not_found(make_user, client_for, owner):
    alice, bob = make_user(), make_user()
    theirs = _send(alice)
    for caller in (bob, owner):
        api = client_for(caller)
        r = api.put(
            f"/api/v2/notifications/inbox/{theirs.pk}/read-status", {"is_read": True}, format="json"
        )
        assert r.status_code == 404
        assert r.json()["message"] == "No such notification."
        assert api.get("/api/v2/notifications/inbox").json()["count"] == 0
    bad = client_for(bob).put(
        "/api/v2/notifications/inbox/not-an-id/read-status", {"is_read": True}, format="json"
    )
    assert bad.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_read_status_needs_a_boolean(make_user, client_for):
    alice = make_user()
    row = _send(alice)
    r = client_for(alice).put(
        f"/api/v2/notifications/inbox/{row.pk}/read-status", {"is_read": "yes"}, format="json"
    )
    assert r.status_code == 400 and r.json()["validations"][0]["field"] == "is_read"


def test_preferences_stop_email_but_keep_or_drop_the_inbox(
    make_user, client_for, smtp, queued, settings
):
    alice = make_user(email="alice@example.com")
    api = client_for(alice)
    url = "/api/v2/users/me/notifications/preferences"
    prefs = api.get(url).json()
    row = next(p for p in prefs["preferences"] if p["kind"] == "build_failed")
    assert row["methods"] == {"inbox": True, "email": True, "webhook": True}
    assert prefs["methods"]["email"].startswith("on: 127.0.0.1")

    r = api.put(url, {"preferences": {"build_failed": {"email": False}}}, format="json")
    assert r.status_code == 200
    kept = _send(alice)
    assert kept.in_inbox and not Delivery.objects.filter(notification=kept).exists()
    # Other kinds still email.
    other = _send(alice, kind="workspace_autostopped", reason="x")
    assert Delivery.objects.filter(notification=other, method="email").exists()

    api.put(url, {"preferences": {"build_failed": {"inbox": False}}}, format="json")
    assert _send(alice) is None  # no method left for it: nothing is sent
    inbox = api.get("/api/v2/notifications/inbox").json()
    assert [x["kind"] for x in inbox["results"]] == ["workspace_autostopped", "build_failed"]

    # Email back on, inbox off: it is emailed but not listed.
    api.put(url, {"preferences": {"build_failed": {"email": True}}}, format="json")
    emailed = _send(alice)
    assert not emailed.in_inbox
    assert Delivery.objects.filter(notification=emailed, method="email").exists()
    assert api.get("/api/v2/notifications/inbox").json()["count"] == 2
    entry = AuditEntry.objects.filter(resource_type="notification_preferences").latest("id")
    assert entry.additional_fields["enabled"] == ["build_failed/email"]


def test_a_kind_that_is_not_optional_cannot_be_turned_off(make_user, client_for):
    alice = make_user()
    url = "/api/v2/users/me/notifications/preferences"
    r = client_for(alice).put(
        url, {"preferences": {"account_suspended": {"email": False}}}, format="json"
    )
    assert r.status_code == 400
    assert r.json()["message"] == (
        "Account suspended cannot be turned off: every user is told of it."
    )
    assert r.json()["validations"] == [
        {"field": "account_suspended.email", "detail": r.json()["message"]}
    ]
    unknown = client_for(alice).put(url, {"preferences": {"nope": {"email": False}}}, format="json")
    assert unknown.status_code == 400 and "no kind 'nope'" in unknown.json()["message"]
    # Nothing half-written: a valid change beside a refused one is not applied either.
    mixed = {"build_failed": {"email": False}, "account_suspended": {"inbox": False}}
    assert client_for(alice).put(url, {"preferences": mixed}, format="json").status_code == 400
    prefs = client_for(alice).get(url).json()["preferences"]
    assert next(p for p in prefs if p["kind"] == "build_failed")["methods"]["email"] is True


def test_owners_change_others_preferences_members_cannot(make_user, client_for, owner):
    alice, bob = make_user(), make_user()
    url = f"/api/v2/users/{alice.username}/notifications/preferences"
    body = {"preferences": {"workspace_autostop_soon": {"inbox": False}}}
    assert client_for(bob).put(url, body, format="json").status_code == 404
    assert client_for(owner).put(url, body, format="json").status_code == 200
    assert services.chosen_methods(alice, "workspace_autostop_soon") == {"email", "webhook"}


def test_owner_edits_a_message_and_the_next_notification_uses_it(owner, make_user, client_for):
    alice = make_user()
    api = client_for(owner)
    url = "/api/v2/notifications/templates/build_failed"
    r = api.put(
        url,
        {"title": "[portal] {{ workspace|upper }} broke", "body": "Fix: {{ error }}"},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["preview"] == {
        "title": "[portal] DEV broke",
        "body": "Fix: terraform apply: exit 1",
    }
    assert r.json()["customized"] is True
    sent = _send(alice)
    assert (sent.title, sent.body) == ("[portal] DEV broke", "Fix: exit 1")
    listed = {t["kind"]: t for t in api.get("/api/v2/notifications/templates").json()}
    assert listed["build_failed"]["title"] == "[portal] {{ workspace|upper }} broke"
    # Reset: the default again.
    reset = api.put(url, {"reset": True}, format="json").json()
    assert reset["customized"] is False
    assert _send(alice).title == "Start of dev failed"
    # Turned off for the deployment: nobody gets it.
    assert api.put(url, {"enabled": False}, format="json").json()["enabled"] is False
    assert _send(alice) is None
    entries = AuditEntry.objects.filter(resource_type="notification_template")
    assert [e.additional_fields["reset"] for e in entries.order_by("id")] == [False, True, False]


def test_bad_template_syntax_is_refused_with_its_line(owner, client_for):
    api = client_for(owner)
    url = "/api/v2/notifications/templates/build_failed"
    r = api.put(url, {"body": "Hello\n{% if workspace %}\nno end"}, format="json")
    assert r.status_code == 400
    body = r.json()
    assert body["validations"][0]["field"] == "body"
    assert "on line 2" in body["message"], body
    assert api.put(url, {"title": "{{ workspace|nosuchfilter }}"}, format="json").status_code == 400
    assert api.put(url, {"enabled": False}, format="json").status_code == 200
    suspended = "/api/v2/notifications/templates/account_suspended"
    refused = api.put(suspended, {"enabled": False}, format="json")
    assert refused.status_code == 400 and "cannot be turned off" in refused.json()["message"]
    assert api.put("/api/v2/notifications/templates/nope", {}, format="json").status_code == 404
    # Nothing was stored by the refusals.
    listed = {t["kind"]: t for t in api.get("/api/v2/notifications/templates").json()}
    assert listed["build_failed"]["customized"] is False


def test_members_may_not_edit_messages(member, client_for):
    r = client_for(member).put(
        "/api/v2/notifications/templates/build_failed", {"title": "x"}, format="json"
    )
    assert r.status_code == 403 and "owner" in r.json()["message"]


def test_owner_test_sends_through_every_method(
    owner, client_for, smtp, webhook, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        r = client_for(owner).post("/api/v2/notifications/test")
    assert r.status_code == 200
    assert r.json()["methods"] == {"inbox": "sent", "email": "queued", "webhook": "queued"}
    assert len(queued) == 2
    for delivery_id in queued:
        assert tasks.deliver(delivery_id) == "sent"
    assert smtp.messages[0]["Subject"] == "A test notification"
    assert webhook.bodies()[0]["kind"] == "test"


def test_the_test_says_when_email_is_off(owner, client_for, settings):
    settings.PORTAL_NOTIFICATIONS_EMAIL = {**settings.PORTAL_NOTIFICATIONS_EMAIL, "host": ""}
    settings.PORTAL_NOTIFICATIONS_WEBHOOK = {"url": "", "secret": ""}
    methods = client_for(owner).post("/api/v2/notifications/test").json()["methods"]
    assert methods["email"] == "off: PORTAL_EMAIL_HOST is not set"
