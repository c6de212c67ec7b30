"""Audit streaming: reads its configuration at start-up (a mistake stops it), registers the
outbox handler on core's audit_recorded hook, the delivery task and the API route."""

from django.apps import AppConfig

from portal import registry


class AuditStreamConfig(AppConfig):
    name = "enterprise.audit_stream"
    label = "audit_stream"
    verbose_name = "Audit streaming"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from enterprise.audit_stream import (
            audit_types,  # noqa: F401  (declares its audit resource type)
            config,
            deployment_settings,
            outbox,
            permissions,
        )
        from portal import hooks

        permissions.register_policies()
        deployment_settings.register()
        cfg = config.current()  # ImproperlyConfigured: start-up fails with its one sentence
        hooks.audit_recorded.register(outbox.enqueue)
        if cfg.targets:  # nothing to deliver otherwise: beat sends no idle messages
            registry.register_periodic_task(
                "deliver-audit-stream", task=outbox.DELIVER_TASK, schedule=cfg.interval_seconds
            )
        registry.register_api_routes("enterprise.audit_stream.api.urls")
        # Its console page is in admin.py, loaded with the console.
