"""Live job logs: the Channels group each job's log batches and its end are published to."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def group_name(job_id) -> str:
    return f"job-logs-{UUID(str(job_id)).hex}"


def _plain(log: dict) -> dict:
    # The channel layer serializes with msgpack, which knows no datetimes.
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in log.items()}


def publish(job_id, logs: list[dict]) -> None:
    """Send a batch of log rows ({id, created_at, source, level, stage, output}) to followers."""
    if logs:
        async_to_sync(get_channel_layer().group_send)(
            group_name(job_id), {"type": "job.logs", "logs": [_plain(log) for log in logs]}
        )


def publish_end(job_id, status: str) -> None:
    """Tell followers the job has finished with this status."""
    async_to_sync(get_channel_layer().group_send)(
        group_name(job_id), {"type": "job.end", "status": str(status)}
    )
