"""AuditEntry: one row per audited action, never updated."""

from auditlog.models import AbstractLogEntry, LogEntryManager
from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Upper
from django.utils import timezone

from portal.audit import types


class AuditEntry(models.Model):
    time = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,  # entries outlive users; the snapshot below keeps the name
    )
    actor_username = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    action = models.CharField(max_length=32, choices=types.action_choices)
    resource_type = models.CharField(max_length=32, choices=types.resource_type_choices)
    resource_id = models.CharField(max_length=64, blank=True)
    resource_target = models.CharField(max_length=255, blank=True)
    diff = models.JSONField(default=dict, blank=True)
    additional_fields = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    status_code = models.PositiveSmallIntegerField(default=200)
    # A build's entries: who asked for the build and why (columns, to filter and join on).
    build_initiator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    build_reason = models.CharField(max_length=32, null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-time", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["resource_type", "resource_id"]),
            models.Index(fields=["action", "time"]),
            models.Index(fields=["actor", "time"]),
            # For the audit search (enterprise/audit/search.py; migration 0005 says why here).
            models.Index(fields=["resource_type", "time"], name="audit_type_time_idx"),
            models.Index(fields=["resource_id", "time"], name="audit_resource_id_time_idx"),
            models.Index(fields=["status_code", "time"], name="audit_status_time_idx"),
            models.Index(Upper("actor_username"), F("time"), name="audit_username_time_idx"),
            # The console's deep pages: keys in list order from the index alone (migration 0007).
            models.Index(fields=["time", "id"], name="audit_time_id_idx"),
        ]

    def __str__(self) -> str:
        actor = self.actor_username or "system"
        return f"{actor} {self.action} {self.resource_type} {self.resource_target}"


class _UnsavedLogEntries(LogEntryManager):
    """django-auditlog's manager, except that its entries are handed over instead of stored."""

    def create(self, **kwargs):
        return self.model(**kwargs)


class FieldChange(AbstractLogEntry):
    """django-auditlog's LogEntry as Portal uses it: a field diff in memory, never a row.

    AUDITLOG_LOGENTRY_MODEL names it; portal.audit.field_history turns each into an AuditEntry
    when no service recorded the change, so the audit log stays the one log (no table).
    """

    objects = _UnsavedLogEntries()

    class Meta:
        managed = False
        db_table = "audit_field_change_unused"
