"""Templates, their versions and uploaded source archives."""

from django.apps import AppConfig


class TemplatesAppConfig(AppConfig):
    name = "templates_app"
    verbose_name = "Templates"

    def ready(self) -> None:
        from templates_app import permissions

        permissions.register_policies()
