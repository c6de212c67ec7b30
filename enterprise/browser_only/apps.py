"""Browser-only mode plugs its check into core's connection_policy hook."""

from django.apps import AppConfig


class BrowserOnlyConfig(AppConfig):
    name = "enterprise.browser_only"
    label = "browser_only"
    verbose_name = "Browser-only mode"

    def ready(self) -> None:
        from enterprise.browser_only import policy
        from portal import hooks

        hooks.connection_policy.register(policy.refuse_non_browser)
