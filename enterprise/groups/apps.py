"""Groups: policy, audit types, the user_groups hook and the API routes."""

from django.apps import AppConfig

from portal import registry


class GroupsConfig(AppConfig):
    name = "enterprise.groups"
    label = "groups"
    verbose_name = "Groups"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from enterprise.groups import (
            audit_types,  # noqa: F401  (declares its audit resource type)
            membership,
            permissions,
        )
        from portal import hooks

        permissions.register_policies()
        hooks.user_groups.register(membership.group_ids_of)
        registry.register_api_routes("enterprise.groups.api.urls")
