"""Quotas: the policy, the audit type, the build cost hooks, the API routes and the console."""

from django.apps import AppConfig

from portal import registry


class QuotasConfig(AppConfig):
    name = "enterprise.quotas"
    label = "quotas"
    verbose_name = "Workspace quotas"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from enterprise.quotas import (
            audit_types,  # noqa: F401  (declares its audit resource type)
            permissions,
            services,
        )
        from portal import hooks

        permissions.register_policies()
        hooks.build_cost_check_wanted.register(services.in_force)
        hooks.build_cost_check.register(services.check_build_cost)
        hooks.cost_budget.register(services.budget_preview)
        registry.register_api_routes("enterprise.quotas.api.urls")
        from enterprise.quotas.metrics import COLLECTOR

        registry.register_metrics_collector(COLLECTOR)
