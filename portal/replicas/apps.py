"""Replicas: the table of running server processes, its API, console list and health check."""

from django.apps import AppConfig


class ReplicasConfig(AppConfig):
    name = "portal.replicas"
    label = "replicas"
    verbose_name = "Replicas"

    def ready(self) -> None:
        from portal import registry
        from portal.replicas import health, permissions

        permissions.register_policies()
        registry.register_api_routes("portal.replicas.api.urls")
        registry.register_periodic_task(
            "prune-replicas", task="replicas.prune_stale", schedule=600.0
        )
        registry.register_health_check("replicas", title="Replicas", check=health.check)
