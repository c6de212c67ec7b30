"""External provisioner daemons: keys (policy, audit types, API, console) and their transport."""

from django.apps import AppConfig

from portal import registry


class ProvisionerDaemonsConfig(AppConfig):
    name = "enterprise.provisioner_daemons"
    label = "provisioner_daemons"
    verbose_name = "Provisioner daemons"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from enterprise.provisioner_daemons import (
            audit_types,  # noqa: F401  (declares its audit resource type)
            permissions,
        )

        permissions.register_policies()
        from enterprise.provisioner_daemons.audit_types import PROVISIONER_KEY
        from enterprise.provisioner_daemons.models import ProvisionerKey
        from portal.audit import field_history

        field_history.track(
            ProvisionerKey,
            resource_type=PROVISIONER_KEY,
            exclude_fields=("last_used_at",),
            secret_fields=("hashed_secret",),
        )
        registry.register_api_routes("enterprise.provisioner_daemons.api.urls")
        from enterprise.provisioner_daemons import notify
        from portal import hooks

        hooks.job_dispatched.register(notify.job_dispatched)
