"""Users, roles and API tokens."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "portal.accounts"
    label = "accounts"
    verbose_name = "Users and tokens"

    def ready(self):
        from portal.accounts import audit_types, permissions, schema, signals, throttling  # noqa: F401

        permissions.register_policies()
