"""Workspaces, their builds, provisioner jobs, resources, agents and apps."""

from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "workspaces"
    verbose_name = "Workspaces and builds"

    def ready(self) -> None:
        from celery import signals

        import portal.celery  # noqa: F401  (tasks enqueued from web processes use its broker)
        from portal import hooks
        from workspaces import permissions
        from workspaces.builds import provisioning
        from workspaces.connectivity import revocable

        permissions.register_policies()

        hooks.template_version_created.register(provisioning.create_import_job)
        revocable.install()
        signals.worker_ready.connect(_worker_ready, weak=False)
        signals.worker_shutdown.connect(_worker_shutdown, weak=False)


def _worker_ready(sender=None, **kwargs) -> None:
    from workspaces.builds import worker

    worker.on_worker_ready(sender.hostname)


def _worker_shutdown(sender=None, **kwargs) -> None:
    from workspaces.builds import worker

    worker.on_worker_shutdown(sender.hostname)
