"""Fixtures for audit streaming: destinations configured through the environment, receivers."""

from __future__ import annotations

import os

import pytest

from enterprise.audit_stream import config
from licensing.cache import gate_cache
from portal.audit import services as audit
from tests.enterprise.audit_stream.receivers import SyslogListener, WebhookReceiver
from tests.licensing import helpers as licensing_helpers


@pytest.fixture
def configure(monkeypatch):
    """configure(PORTAL_AUDIT_WEBHOOK_URL=..., ...): exactly these PORTAL_AUDIT_* variables,
    read as at start-up."""

    def apply(**env):
        for name in list(os.environ):
            if name.startswith("PORTAL_AUDIT_"):
                monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, str(value))
        config.current.cache_clear()
        return config.current()

    yield apply
    config.current.cache_clear()


@pytest.fixture
def webhook(configure):
    receiver = WebhookReceiver().start()
    configure(PORTAL_AUDIT_WEBHOOK_URL=receiver.url, PORTAL_AUDIT_STREAM_BATCH_SIZE=50)
    yield receiver
    receiver.stop()


@pytest.fixture
def syslog_listener():
    listener = SyslogListener().start()
    yield listener
    listener.stop()


@pytest.fixture
def record(system):
    """record(n): n audit entries, as services write them; returns their ids in order."""

    def make(n: int = 1, *, action: str = "write", status_code: int = 200) -> list[int]:
        return [
            audit.record(
                actor=system,
                action=action,
                resource_type="user",
                resource_id=i,
                resource_target=f"user{i}",
                diff={"name": {"old": "", "new": f"User {i}", "secret": False}},
                status_code=status_code,
            ).id
            for i in range(n)
        ]

    return make


@pytest.fixture
def license_without_audit_log(db):
    """A stored license that lacks the audit_log feature: the gate is off."""

    def apply():
        licensing_helpers.stored(features={"scim": 1})
        gate_cache.invalidate()

    return apply
