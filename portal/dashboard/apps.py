"""The console dashboard's app: its periodic tasks, and every app's `dashboard_panels` module."""

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "portal.dashboard"
    label = "dashboard"
    verbose_name = "Dashboard"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from portal import registry
        from portal.periodic import IN_SCHEDULER

        # Apps register their series and panels there (as they do console cards in `admin`).
        autodiscover_modules("dashboard_panels")
        # In the scheduler's own process: the dashboard must keep telling the truth when the
        # workers are down, and the health report must see a web process (its relay listener,
        # its replica heartbeat), not a worker's.
        registry.register_periodic_task(
            "dashboard-samples",
            task="dashboard.collect_samples",
            schedule=60.0,
            options={IN_SCHEDULER: True},
        )
        registry.register_periodic_task(
            "dashboard-health",
            task="dashboard.snapshot_health",
            schedule=30.0,
            options={IN_SCHEDULER: True},
        )
