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
        from portal.audit import field_history
        from templates_app.models import Template

        field_history.track(Template, resource_type="template", exclude_fields=("updated_at",))
        registry.register_api_routes("templates_app.api.urls")
