"""SCIM: keys (policy, audit types, API routes) and the /scim/v2/ endpoints."""

from django.apps import AppConfig

from portal import registry


class ScimConfig(AppConfig):
    name = "enterprise.scim"
    label = "scim"
    verbose_name = "SCIM provisioning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from enterprise.scim import (
            audit_types,  # noqa: F401  (declares its audit resource type)
            permissions,
        )

        permissions.register_policies()
        from enterprise.scim.audit_types import SCIM_KEY
        from enterprise.scim.models import ScimKey
        from portal.audit import field_history

        field_history.track(
            ScimKey,
            resource_type=SCIM_KEY,
            exclude_fields=("last_used_at",),
            secret_fields=("hashed_secret",),
        )
        registry.register_http_routes("scim/v2/", "enterprise.scim.urls", namespace="scim")
        registry.register_api_routes("enterprise.scim.api.urls")
