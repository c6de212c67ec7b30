"""The core audit log: who did what to which resource, written by services."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "portal.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self):
        from django.contrib import admin

        from portal.audit import field_history
        from portal.audit.models import FieldChange

        field_history.connect()
        # One audit page: auditlog's own admin (autodiscovered) shows nothing of ours.
        if admin.site.is_registered(FieldChange):
            admin.site.unregister(FieldChange)
