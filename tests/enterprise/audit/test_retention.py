"""Retention: PORTAL_AUDIT_RETENTION_DAYS deletes older entries in batches, with one summary."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from enterprise.audit import services, tasks
from enterprise.audit.audit_types import AUDIT_LOG
from portal.audit.models import AuditEntry
from portal.registry import registry

pytestmark = pytest.mark.django_db


def _entries(days_ago: list[int]) -> None:
    now = timezone.now()
    AuditEntry.objects.bulk_create(
        AuditEntry(
            time=now - timedelta(days=d, minutes=1),
            action="unlock",
            resource_type="user",
            resource_target=f"{d} days",
        )
        for d in days_ago
    )


def _targets() -> set[str]:
    return set(AuditEntry.objects.filter(action="unlock").values_list("resource_target", flat=True))


def test_unset_keeps_everything(settings, system):
    settings.PORTAL_AUDIT_RETENTION_DAYS = 0
    _entries([1, 400, 4000])
    assert tasks.prune_audit_entries() == 0
    assert _targets() == {"1 days", "400 days", "4000 days"}
    assert not AuditEntry.objects.filter(resource_type=AUDIT_LOG).exists()


def test_entries_older_than_the_retention_go_in_batches_with_one_summary(settings, system):
    settings.PORTAL_AUDIT_RETENTION_DAYS = 30
    _entries([1, 29, *range(31, 56)])  # 25 old ones
    assert services.prune(actor=system, batch=10) == 25
    assert _targets() == {"1 days", "29 days"}
    summary = AuditEntry.objects.get(resource_type=AUDIT_LOG, action="delete")
    assert summary.actor_username == system.username
    assert summary.additional_fields["deleted"] == 25
    assert summary.additional_fields["retention_days"] == 30


def test_running_twice_deletes_nothing_more_and_never_its_own_summaries(settings, system):
    settings.PORTAL_AUDIT_RETENTION_DAYS = 30
    _entries([40, 50])
    assert tasks.prune_audit_entries() == 2
    AuditEntry.objects.filter(resource_type=AUDIT_LOG).update(
        time=timezone.now() - timedelta(days=365)
    )
    assert tasks.prune_audit_entries() == 0
    assert AuditEntry.objects.filter(resource_type=AUDIT_LOG, action="delete").count() == 1


def test_with_the_gate_off_nothing_is_deleted(settings, system, gate_off):
    settings.PORTAL_AUDIT_RETENTION_DAYS = 30
    _entries([40])
    assert tasks.prune_audit_entries() == 0
    assert _targets() == {"40 days"}


def test_beat_runs_it():
    assert registry["periodic_tasks"]["prune-audit-entries"].task == "audit_log.prune_audit_entries"


def test_the_setting_is_read_from_the_environment(monkeypatch):
    from portal import config

    monkeypatch.setenv("PORTAL_AUDIT_RETENTION_DAYS", "90")
    assert config.load.__wrapped__().audit_retention_days == 90
    monkeypatch.delenv("PORTAL_AUDIT_RETENTION_DAYS")
    assert config.load.__wrapped__().audit_retention_days == 0
    monkeypatch.setenv("PORTAL_AUDIT_RETENTION_DAYS", "-1")
    with pytest.raises(ValueError, match="PORTAL_AUDIT_RETENTION_DAYS"):
        config.load.__wrapped__()


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_run_skips_rows_another_holds_instead_of_waiting(settings, system):
    """Two replicas at once: the second deletes what the first has not locked, never blocks,
    and the two summaries add up to what was deleted."""
    import psycopg

    from tests.relay.replicas import database_url

    settings.PORTAL_AUDIT_RETENTION_DAYS = 30
    _entries(list(range(40, 60)))
    other = psycopg.connect(database_url())
    try:
        held = other.execute(
            "SELECT id FROM audit_auditentry WHERE resource_target IN ('40 days', '41 days') "
            "FOR UPDATE"
        ).fetchall()
        assert len(held) == 2
        assert services.prune(actor=system, batch=5) == 18  # returned: it did not wait
        assert _targets() == {"40 days", "41 days"}
    finally:
        other.rollback()
        other.close()
    assert services.prune(actor=system, batch=5) == 2
    summaries = AuditEntry.objects.filter(resource_type=AUDIT_LOG, action="delete")
    assert sorted(s.additional_fields["deleted"] for s in summaries) == [2, 18]
    assert _targets() == set()
