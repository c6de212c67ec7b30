"""Observability: the health report's core checks, its API route and its policy."""

from django.apps import AppConfig

from portal import registry


class ObservabilityConfig(AppConfig):
    name = "portal.observability"
    label = "observability"
    verbose_name = "Observability"

    def ready(self) -> None:
        from portal.observability import checks, permissions

        permissions.register_policies()
        checks.register()
        registry.register_api_routes("portal.observability.api_urls")
