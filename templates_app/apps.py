"""Templates, their versions and uploaded source archives."""

from django.apps import AppConfig

from portal import registry


class TemplatesAppConfig(AppConfig):
    name = "templates_app"
    verbose_name = "Templates"

    def ready(self) -> None:
        from templates_app import (
            audit_types,  # noqa: F401  (declares its audit resource types)
            permissions,
        )

        permissions.register_policies()
        registry.register_api_routes("templates_app.api.urls")
