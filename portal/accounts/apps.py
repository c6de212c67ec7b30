"""Users, roles and API tokens."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "portal.accounts"
    label = "accounts"
    verbose_name = "Users and tokens"

    def ready(self):
        from portal.accounts import audit_types, permissions, schema, signals, throttling  # noqa: F401

        permissions.register_policies()
        _track_field_history()
        from portal import registry

        # Hourly: dormancy is counted in days; one run marks in short transactions.
        registry.register_periodic_task(
            "mark-dormant-users", task="accounts.mark_dormant_users", schedule=3600.0
        )


def _track_field_history() -> None:
    from portal.accounts.models import User
    from portal.audit import field_history

    field_history.track(
        User,
        resource_type="user",
        # bookkeeping every sign-in or request moves; not configuration
        exclude_fields=("last_login", "last_seen_at", "updated_at"),
        secret_fields=("password",),
    )
