"""The core audit log: who did what to which resource, written by services."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "portal.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self):
        from django.contrib import admin

        from portal.accounts.services import system_actor
        from portal.audit import denied, field_history, services
        from portal.audit.models import FieldChange

        denied.declare()
        field_history.connect(write=services.record_outside_service, fallback_actor=system_actor)
        # One audit page: auditlog's own admin (autodiscovered) shows nothing of ours.
        if admin.site.is_registered(FieldChange):
            admin.site.unregister(FieldChange)
