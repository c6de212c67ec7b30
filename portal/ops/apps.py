"""Operations: start-up management commands, and the console's deployment settings page."""

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "portal.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from portal.ops import core_settings, permissions

        core_settings.register()
        permissions.register_policies()
