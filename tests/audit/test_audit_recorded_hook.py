"""The audit_recorded hook: handlers run inside the entry's transaction, even for a caller
with none, so what they write commits or rolls back with the entry."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from portal import hooks
from portal.audit import services as audit
from portal.audit.models import AuditEntry


@pytest.fixture
def handler():
    """A handler that records what it saw, and whether it ran inside a transaction."""
    seen = []

    def handle(entry):
        seen.append((entry.pk, connection.in_atomic_block))
        if entry.resource_target == "boom":
            raise RuntimeError("the handler failed")

    hooks.audit_recorded.register(handle)
    yield seen
    hooks.audit_recorded.unregister(handle)


def _record(system, target: str):
    return audit.record(
        actor=system, action="write", resource_type="user", resource_id=1, resource_target=target
    )


@pytest.mark.django_db(transaction=True)
def test_a_caller_without_a_transaction_gets_one(system, handler):
    entry = _record(system, "alice")
    assert handler == [(entry.pk, True)]  # the entry was saved and the handler ran in one
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_failing_handler_takes_the_entry_with_it(system, handler):
    with pytest.raises(RuntimeError):
        _record(system, "boom")
    assert not AuditEntry.objects.filter(resource_target="boom").exists()


def test_inside_a_service_transaction_both_roll_back_together(system, handler):
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        entry = _record(system, "carol")
        1 / 0  # noqa: B018 - the service fails after its audit entry
    assert handler == [(entry.pk, True)]
    assert not AuditEntry.objects.filter(pk=entry.pk).exists()
