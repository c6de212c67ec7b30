"""Fixtures: a local SMTP server and webhook receiver the deployment's settings point at."""

from __future__ import annotations

import pytest

from tests.notifications.receivers import start_smtp, start_webhook

WEBHOOK_SECRET = "test-webhook-secret"


@pytest.fixture
def smtp(settings):
    receiver, controller = start_smtp()
    settings.PORTAL_NOTIFICATIONS_EMAIL = {
        "host": "127.0.0.1",
        "port": receiver.port,
        "username": "",
        "password": "",
        "tls": "none",
        "from": "Portal <portal@example.com>",
    }
    yield receiver
    controller.stop()


@pytest.fixture
def webhook(settings):
    receiver, server = start_webhook()
    settings.PORTAL_NOTIFICATIONS_WEBHOOK = {"url": receiver.url, "secret": WEBHOOK_SECRET}
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def queued(monkeypatch):
    """The delivery ids queued for the worker (instead of the broker), in order."""
    from portal.notifications import tasks

    ids: list[int] = []
    monkeypatch.setattr(
        tasks, "enqueue", lambda delivery_id, countdown=None: ids.append(delivery_id)
    )
    return ids
