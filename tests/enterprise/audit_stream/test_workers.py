"""Several workers delivering at once never send an entry twice; the task and the nudge."""

from __future__ import annotations

import json
import threading

import pytest
import redis
from django.apps import apps
from django.db import connection

from enterprise.audit_stream import delivery, outbox, tasks
from enterprise.audit_stream.models import OutboxRow
from portal.registry import registry
from portal_shared.queues import MAINTENANCE_QUEUE


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_send_each_entry_once_and_in_order(webhook, record, configure):
    configure(PORTAL_AUDIT_WEBHOOK_URL=webhook.url, PORTAL_AUDIT_STREAM_BATCH_SIZE=10)
    ids = record(100)
    webhook.delay = 0.02  # each batch takes a while: the workers overlap
    start = threading.Barrier(4)
    totals = []

    def worker():
        start.wait()
        try:
            for _ in range(5):
                totals.append(delivery.deliver("webhook"))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    delivery.deliver("webhook")  # whatever a skipped worker left
    sent = [d["id"] for d in webhook.documents()]
    # Once each, in order (set-up may have recorded entries of its own before ours).
    assert sent == sorted(set(sent)) and [i for i in sent if i in set(ids)] == ids
    assert not OutboxRow.objects.exists()


def test_the_task_delivers(webhook, record):
    ids = record(3)
    assert tasks.deliver() == {"webhook": 3}
    assert [d["id"] for d in webhook.documents()] == ids
    assert tasks.deliver.name == outbox.DELIVER_TASK


def test_beat_runs_delivery_when_a_destination_is_configured(configure):
    periodic = registry["periodic_tasks"]
    app = apps.get_app_config("audit_stream")
    configure()
    app.ready()
    assert "deliver-audit-stream" not in periodic  # nothing to deliver: no idle messages
    configure(
        PORTAL_AUDIT_WEBHOOK_URL="https://siem.example.com/in",
        PORTAL_AUDIT_STREAM_INTERVAL_SECONDS=3,
    )
    try:
        app.ready()
        entry = periodic["deliver-audit-stream"]
        assert entry.task == outbox.DELIVER_TASK == tasks.deliver.name and entry.schedule == 3
    finally:
        periodic.pop("deliver-audit-stream", None)


def test_a_commit_nudges_delivery_once_per_burst(
    webhook, record, django_capture_on_commit_callbacks
):
    outbox._last_nudge = 0.0
    with django_capture_on_commit_callbacks() as callbacks:
        record(20)
    assert callbacks == [outbox.nudge]  # one nudge for the burst, not one per entry


def test_the_nudge_reaches_the_queue_the_worker_serves(settings):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    before = broker.llen(MAINTENANCE_QUEUE)
    outbox.nudge()
    assert broker.llen(MAINTENANCE_QUEUE) == before + 1
    message = json.loads(broker.lindex(MAINTENANCE_QUEUE, 0))
    assert message["headers"]["task"] == "audit_stream.deliver"
    broker.lpop(MAINTENANCE_QUEUE)
