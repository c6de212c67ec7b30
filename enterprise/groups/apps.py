"""Groups: policy, audit types, the user_groups hook, the API routes and the account card."""

from django.apps import AppConfig

from portal import registry


class GroupsConfig(AppConfig):
    name = "enterprise.groups"
    label = "groups"
    verbose_name = "Groups"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from enterprise.groups import (
            account,
            audit_types,  # noqa: F401  (declares its audit resource type)
            membership,
            permissions,
        )
        from portal import hooks

        permissions.register_policies()
        _track_field_history()
        hooks.user_groups.register(membership.group_ids_of)
        registry.register_api_routes("enterprise.groups.api.urls")
        registry.register_account_section(
            "Groups", template="groups/account_groups.html", context=account.account_groups
        )


def _track_field_history() -> None:
    from enterprise.groups.audit_types import GROUP
    from enterprise.groups.models import Group
    from portal.audit import field_history

    # Not GroupMember: a delete signal would cost its bulk deletes (a SCIM PATCH removing a
    # thousand members) a row fetch and a diff each; memberships change through the services.
    field_history.track(Group, resource_type=GROUP)
