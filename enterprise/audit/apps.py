"""The audit log's browsing (enterprise): search, API, export, console, portal page, retention.

Recording stays in core (portal.audit); this app reads core's AuditEntry table, behind the
`audit_log` feature gate.
"""

from django.apps import AppConfig

from portal import registry


class AuditLogConfig(AppConfig):
    name = "enterprise.audit"
    label = "audit_log"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from enterprise.audit import (
            audit_types,  # noqa: F401  (declares its audit resource type)
            portal_page,
        )

        registry.register_api_routes("enterprise.audit.api.urls")
        registry.register_http_routes("audit", "enterprise.audit.urls", namespace="audit_log")
        registry.register_nav_link("Audit", path="/audit", visible=portal_page.may_browse)
        # Hourly: the retention cut-off moves by the hour; one run deletes in short batches.
        registry.register_periodic_task(
            "prune-audit-entries", task="audit_log.prune_audit_entries", schedule=3600.0
        )
