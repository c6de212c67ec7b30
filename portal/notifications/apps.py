"""The notifications app's configuration: policies, audit types, routes, hooks, the sweep."""

from django.apps import AppConfig

from portal import registry


class NotificationsConfig(AppConfig):
    name = "portal.notifications"
    label = "notifications"
    verbose_name = "Notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal import hooks
        from portal.notifications import (
            account_section,
            audit_types,  # noqa: F401  (declares its audit resource types)
            messages,  # noqa: F401  (registers the test kind)
            permissions,
            senders,
        )

        permissions.register_policies()
        hooks.user_status_changed.register(senders.notify_suspended)
        registry.register_api_routes("portal.notifications.api.urls")
        registry.register_http_routes(
            "notifications/", "portal.notifications.urls", "notifications"
        )
        registry.register_periodic_task(
            "notifications-sweep", task="notifications.sweep", schedule=60.0
        )
        account_section.register()
