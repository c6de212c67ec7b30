"""Celery entry points of the dashboard (the periodic leader runs them in its own process)."""

from celery import shared_task

from portal.dashboard import health, sampling


@shared_task(name="dashboard.collect_samples", ignore_result=True)
def collect_samples() -> list[str]:
    return sampling.collect()


@shared_task(name="dashboard.snapshot_health", ignore_result=True)
def snapshot_health() -> str:
    return health.snapshot()["status"]
