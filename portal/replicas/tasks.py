"""Celery entry points of the replicas app."""

from celery import shared_task

from portal.replicas import services


@shared_task(name="replicas.prune_stale", ignore_result=True)
def prune_stale() -> int:
    return services.prune_stale()
