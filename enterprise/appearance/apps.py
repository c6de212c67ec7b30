"""Appearance: policy, audit type, the site_appearance provider, the API and its routes."""

from django.apps import AppConfig

from portal import registry


class AppearanceConfig(AppConfig):
    name = "enterprise.appearance"
    label = "appearance"
    verbose_name = "Appearance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from enterprise.appearance import (
            audit_types,  # noqa: F401  (declares its audit resource type)
            branding,
            permissions,
        )

        permissions.register_policies()
        registry.register_site_appearance(branding.site_appearance)
        registry.register_api_routes("enterprise.appearance.api.urls")
        registry.register_http_routes("appearance/", "enterprise.appearance.urls", "appearance")
