"""Email and webhook delivery through real receivers: rendered, signed, sent once, retried."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.conf import settings

from portal.notifications import delivery, services, tasks
from portal.notifications.models import Delivery
from tests.notifications.conftest import WEBHOOK_SECRET

pytestmark = pytest.mark.django_db

FAILED = {"workspace": "dev", "transition": "start", "error": "terraform apply: exit 1"}


def _send(user, **kw):
    return services.notify("build_failed", user, context=FAILED, link="/workspaces/a/dev", **kw)


def test_email_arrives_with_the_rendered_subject_and_body(
    make_user, smtp, queued, django_capture_on_commit_callbacks
):
    alice = make_user(email="alice@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        sent = _send(alice)
    [row] = Delivery.objects.filter(notification=sent)
    assert queued == [row.pk]  # queued for the worker once committed
    assert tasks.deliver(row.pk) == "sent"
    [message] = smtp.messages
    assert message["Subject"] == "Start of dev failed"
    assert message["To"] == "alice@example.com"
    assert message["From"] == "Portal <portal@example.com>"
    text = message.get_payload(decode=True).decode()
    assert "The start build of your workspace dev failed: terraform apply: exit 1" in text
    assert f"{settings.PORTAL_ACCESS_URL}/workspaces/a/dev" in text
    row.refresh_from_db()
    assert row.sent_at is not None and row.attempts == 1


def test_webhook_gets_the_json_with_a_valid_signature(make_user, webhook, queued):
    alice = make_user(email="alice@example.com")
    sent = _send(alice)
    [row] = Delivery.objects.filter(notification=sent)
    assert tasks.deliver(row.pk) == "sent"
    [(headers, body)] = webhook.requests
    expected = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-portal-signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload == {
        "id": str(sent.pk),
        "kind": "build_failed",
        "title": "Start of dev failed",
        "body": "The start build of your workspace dev failed: terraform apply: exit 1",
        "link": f"{settings.PORTAL_ACCESS_URL}/workspaces/a/dev",
        "user": {"id": str(alice.pk), "username": alice.username, "email": "alice@example.com"},
        "created_at": sent.created_at.isoformat(),
    }


def test_the_delivery_task_run_twice_sends_once(make_user, smtp, webhook, queued):
    alice = make_user(email="alice@example.com")
    sent = _send(alice)
    for row in Delivery.objects.filter(notification=sent):
        assert tasks.deliver(row.pk) == "sent"
        assert tasks.deliver(row.pk) == "skipped"
    assert len(smtp.messages) == 1
    assert len(webhook.requests) == 1


def test_a_failing_receiver_is_retried_later_then_given_up_on_a_refusal(make_user, webhook, queued):
    alice = make_user()
    webhook.status = 503
    sent = _send(alice)
    [row] = Delivery.objects.filter(notification=sent)
    queued.clear()
    assert tasks.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert (row.attempts, row.sent_at, row.gave_up_at) == (1, None, None)
    assert row.last_error == "webhook answered 503"
    assert row.next_attempt_at > row.created_at
    assert queued == [row.pk]  # the next attempt, after its backoff
    assert tasks.deliver(row.pk) == "skipped"  # a duplicate before its backoff: not yet
    Delivery.objects.filter(pk=row.pk).update(next_attempt_at=row.created_at)  # time passed
    webhook.status = 410  # gone: sending again cannot help
    assert tasks.deliver(row.pk) == "gave_up"
    row.refresh_from_db()
    assert row.gave_up_at is not None and row.attempts == 2
    assert tasks.deliver(row.pk) == "skipped"


def test_the_sweep_requeues_deliveries_left_unsent(make_user, webhook, queued):
    from django.utils import timezone

    sent = _send(make_user())
    [row] = Delivery.objects.filter(notification=sent)
    queued.clear()
    assert tasks.sweep() == 0  # just queued: not stuck
    Delivery.objects.filter(pk=row.pk).update(
        next_attempt_at=timezone.now() - delivery.STUCK_AFTER * 2
    )
    assert tasks.sweep() == 1
    assert queued == [row.pk]


def test_no_host_means_no_email_and_the_reason_is_said(make_user, settings, queued):
    settings.PORTAL_NOTIFICATIONS_EMAIL = {**settings.PORTAL_NOTIFICATIONS_EMAIL, "host": ""}
    settings.PORTAL_NOTIFICATIONS_WEBHOOK = {"url": "", "secret": ""}
    sent = _send(make_user(email="a@example.com"))
    assert sent.in_inbox and not sent.deliveries.exists()
    status = delivery.methods_status()
    assert status["email"] == "off: PORTAL_EMAIL_HOST is not set"
    assert status["webhook"] == "off: PORTAL_NOTIFICATIONS_WEBHOOK_URL is not set"
