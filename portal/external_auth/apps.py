"""External auth (git hosts): configuration checked at start-up, policy, routes, account card."""

from django.apps import AppConfig

from portal import registry


class ExternalAuthConfig(AppConfig):
    name = "portal.external_auth"
    label = "external_auth"
    verbose_name = "External authentication"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal.external_auth import (
            account,
            audit_types,  # noqa: F401  (declares its audit resource type)
            config,
            permissions,
        )

        config.current()  # ImproperlyConfigured: start-up fails with its one sentence
        permissions.register_policies()
        registry.register_api_routes("portal.external_auth.api.urls")
        registry.register_http_routes(
            "external-auth/", "portal.external_auth.urls", namespace="external_auth"
        )
        registry.register_account_section(
            "External authentication",
            template="external_auth/account_section.html",
            context=account.account_external_auth,
        )
