"""Entries reach a real HTTP receiver as NDJSON, in order, through outages, 5xx and 4xx."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from enterprise.audit_stream import delivery
from enterprise.audit_stream.models import OutboxRow, StreamDestination
from portal.accounts import services as accounts
from portal.audit.models import AuditEntry


def later(seconds: float):
    """A clock `seconds` from now: delivery is told the time instead of the test sleeping."""
    return timezone.now() + timedelta(seconds=seconds)


def test_a_service_action_arrives_with_the_entry_fields(member, webhook, configure):
    configure(
        PORTAL_AUDIT_WEBHOOK_URL=webhook.url,
        PORTAL_AUDIT_WEBHOOK_TOKEN="s3cret",
        PORTAL_AUDIT_WEBHOOK_HEADERS='{"X-Splunk-Index": "portal"}',
    )
    accounts.create_token(member, actor=member, name="ci")
    entry = AuditEntry.objects.latest("id")
    assert OutboxRow.objects.filter(entry_id=entry.id, destination="webhook").count() == 1

    assert delivery.deliver_all() == {"webhook": 1}

    [request] = webhook.requests
    assert request["headers"]["Authorization"] == "Bearer s3cret"
    assert request["headers"]["X-Splunk-Index"] == "portal"
    assert request["headers"]["Content-Type"] == "application/x-ndjson"
    [doc] = request["lines"]
    assert doc["id"] == entry.id and doc["action"] == "create"
    assert doc["resource_type"] == "api_token" and doc["resource_target"] == entry.resource_target
    assert doc["actor_username"] == member.username and doc["actor_id"] == str(member.id)
    assert doc["time"].endswith("Z") and doc["status_code"] == entry.status_code == 201
    assert set(doc) >= {"ip", "diff", "additional_fields", "request_id", "user_agent"}
    assert not OutboxRow.objects.exists()  # delivered rows are gone
    state = StreamDestination.objects.get(name="webhook")
    assert state.delivered_count == 1 and state.last_success_at is not None


def test_a_rolled_back_action_sends_nothing(member, webhook):
    with pytest.raises(RuntimeError), transaction.atomic():
        accounts.create_token(member, actor=member, name="doomed")
        assert OutboxRow.objects.count() == 1  # queued with the entry...
        raise RuntimeError("the action fails after its audit entry was written")
    assert not OutboxRow.objects.exists()  # ...and gone with it
    assert delivery.deliver_all() == {"webhook": 0}
    assert webhook.requests == []


def test_every_entry_arrives_in_order_across_an_outage(webhook, record):
    first = record(120)
    assert delivery.deliver_all() == {"webhook": 120}  # batches of 50

    webhook.stop()  # the receiver goes down mid-stream
    during = record(30)
    assert delivery.deliver_all() == {"webhook": 0}
    state = StreamDestination.objects.get(name="webhook")
    assert state.attempts == 1 and "webhook http://127.0.0.1" in state.last_error
    assert OutboxRow.objects.count() == 30  # nothing lost
    assert delivery.deliver_all(now=later(600)) == {"webhook": 0}  # still down
    assert StreamDestination.objects.get(name="webhook").attempts == 2

    webhook.start()
    after = record(25)
    assert delivery.deliver_all(now=later(1200)) == {"webhook": 55}
    ids = [doc["id"] for doc in webhook.documents()]
    assert ids == first + during + after  # every entry, once, in order
    assert [len(r["lines"]) for r in webhook.requests] == [50, 50, 20, 50, 5]
    state = StreamDestination.objects.get(name="webhook")
    assert state.attempts == 0 and state.next_attempt_at is None and state.delivered_count == 175


def test_a_5xx_is_retried_with_growing_backoff(webhook, record):
    ids = record(3)
    webhook.statuses = [503, 500, 502]
    now = timezone.now()
    waits = []
    for attempt in (1, 2, 3):
        assert delivery.deliver_all(now=now) == {"webhook": 0}
        state = StreamDestination.objects.get(name="webhook")
        assert state.attempts == attempt and "answered 5" in state.last_error
        waits.append((state.next_attempt_at - now).total_seconds())
        # Not before the time it set, whoever runs delivery.
        assert delivery.deliver_all(now=now) == {"webhook": 0}
        assert StreamDestination.objects.get(name="webhook").attempts == attempt
        now = state.next_attempt_at
    # 1, 2, 4 s with jitter: each between half and all of its step.
    assert 0.5 <= waits[0] <= 1 and 1 <= waits[1] <= 2 and 2 <= waits[2] <= 4
    assert delivery.deliver_all(now=now) == {"webhook": 3}
    assert webhook.documents() and [d["id"] for d in webhook.documents()] == ids


def test_a_429_waits_as_long_as_the_receiver_asks_and_is_retried(webhook, record):
    record(2)
    webhook.statuses = [429]
    now = timezone.now()
    delivery.deliver_all(now=now)
    state = StreamDestination.objects.get(name="webhook")
    assert state.attempts == 1 and state.next_attempt_at > now
    assert delivery.deliver_all(now=state.next_attempt_at) == {"webhook": 2}


def test_a_4xx_sets_the_batch_aside_and_delivery_goes_on(webhook, record, configure):
    configure(PORTAL_AUDIT_WEBHOOK_URL=webhook.url, PORTAL_AUDIT_STREAM_BATCH_SIZE=2)
    ids = record(5)
    webhook.statuses = [400]  # the first batch is refused for good
    assert delivery.deliver_all() == {"webhook": 3}
    assert [d["id"] for d in webhook.documents()] == ids[2:]
    state = StreamDestination.objects.get(name="webhook")
    assert "answered 400" in state.last_error and state.attempts == 0
    # Kept for inspection, never sent again.
    assert (
        sorted(OutboxRow.objects.filter(dead_at__isnull=False).values_list("entry_id", flat=True))
        == ids[:2]
    )
    assert delivery.deliver_all() == {"webhook": 0}


def test_nothing_is_queued_without_a_destination(configure, record):
    configure()
    record(3)
    assert not OutboxRow.objects.exists()
    assert delivery.deliver_all() == {}
