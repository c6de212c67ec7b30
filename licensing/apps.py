"""Licensing: policy, audit types, the feature_gate handler, banners and the API routes."""

from django.apps import AppConfig

from portal import registry


class LicensingConfig(AppConfig):
    name = "licensing"
    label = "licensing"
    verbose_name = "Licensing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from licensing import (
            audit_types,  # noqa: F401  (declares its audit resource type)
            banners,
            permissions,
        )
        from licensing.cache import gate_cache
        from portal import hooks
        from portal.accounts.admin_permissions import declare_admin_permission

        permissions.register_policies()
        from licensing.audit_types import LICENSE
        from licensing.models import License
        from portal.audit import field_history

        field_history.track(License, resource_type=LICENSE, secret_fields=("jwt",))
        hooks.feature_gate.register(gate_cache.gate)
        registry.register_api_routes("licensing.api.urls")
        registry.register_banner(banners.license_banners)
        from licensing.metrics import COLLECTOR

        registry.register_metrics_collector(COLLECTOR)
        registry.register_banner(banners.replicas_banner)
        declare_admin_permission("licensing.view_license", "license", "read")
        declare_admin_permission("licensing.add_license", "license", "create")
        declare_admin_permission("licensing.delete_license", "license", "delete")
