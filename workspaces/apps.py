"""Workspaces, their builds, provisioner jobs, resources, agents and apps."""

from django.apps import AppConfig

from portal import config, registry


class WorkspacesConfig(AppConfig):
    name = "workspaces"
    verbose_name = "Workspaces and builds"

    def ready(self) -> None:
        from celery import signals

        import portal.celery  # noqa: F401  (tasks enqueued from web processes use its broker)
        from portal import hooks
        from portal.periodic import IN_SCHEDULER
        from workspaces import (
            audit_types,  # noqa: F401  (declares its audit resource types)
            deprecation_notices,
            notices,
            permissions,
            suspension,
        )
        from workspaces.builds import provisioning
        from workspaces.connectivity import revocable

        permissions.register_policies()
        from workspaces import observability

        observability.register()

        hooks.template_version_created.register(provisioning.create_import_job)
        hooks.user_status_changed.register(suspension.stop_workspaces_of_suspended)
        hooks.build_finished.register(notices.notify_build_failed)
        hooks.template_deprecated.register(deprecation_notices.notify_owners)
        revocable.install()
        signals.worker_ready.connect(_worker_ready, weak=False)
        signals.worker_shutdown.connect(_worker_shutdown, weak=False)
        registry.register_api_routes("workspaces.api.urls")
        registry.register_periodic_task(
            "reap-hung-jobs",
            task="workspaces.reap_hung_jobs",
            schedule=config.load().reaper_interval_seconds,
            # In beat's own process: a hung worker would never take its own reaper from the queue.
            options={IN_SCHEDULER: True},
        )
        registry.register_periodic_task(
            "dispatch-pending-jobs", task="workspaces.dispatch_pending", schedule=30.0
        )
        registry.register_periodic_task(
            "refresh-waiting-reasons", task="workspaces.refresh_waiting_reasons", schedule=30.0
        )
        # Any worker may run it; its advisory lock makes it one pass per deployment at a time.
        registry.register_periodic_task(
            "workspace-schedules", task="workspaces.run_schedules", schedule=30.0
        )
        registry.register_periodic_task(
            "autostop-notices", task="workspaces.send_autostop_notices", schedule=60.0
        )
        registry.register_periodic_task(
            "mark-inactive-agents", task="workspaces.mark_inactive_agents", schedule=5.0
        )
        # Its ASGI routes are in workspaces/asgi_routes.py, which only portal/asgi.py loads; its
        # dashboard cards in workspaces/admin/dashboard.py, loaded with the console.


def _worker_ready(sender=None, **kwargs) -> None:
    from workspaces.builds import worker

    worker.on_worker_ready(sender.hostname)


def _worker_shutdown(sender=None, **kwargs) -> None:
    from workspaces.builds import worker

    worker.on_worker_shutdown(sender.hostname)
