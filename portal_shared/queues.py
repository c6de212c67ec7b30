"""Celery queue names for provisioner tags (no Django: the worker command needs them early)."""

from __future__ import annotations

import hashlib
import itertools
import json
import re

BASE_QUEUE = "provisioner"
MAINTENANCE_QUEUE = "portal"
MAX_WORKER_TAGS = 6  # a worker listens on every subset of its tags: 2**6 queues at most
_SIMPLE = re.compile(r"[\w.=+-]+")


def queue_for(tags: dict[str, str]) -> str:
    """The queue of jobs needing exactly these tags (readable when the tags are simple)."""
    if not tags:
        return BASE_QUEUE
    readable = "+".join(f"{k}={tags[k]}" for k in sorted(tags))
    if _SIMPLE.fullmatch(readable) and len(readable) <= 100:
        return f"{BASE_QUEUE}.{readable}"
    # Celery splits -Q on commas and brokers limit names: anything else becomes a digest.
    digest = hashlib.sha256(json.dumps(tags, sort_keys=True).encode()).hexdigest()[:20]
    return f"{BASE_QUEUE}.{digest}"


def worker_queues(tags: dict[str, str]) -> list[str]:
    """Every queue a worker with `tags` serves: a job's tags must be a subset of the worker's."""
    if len(tags) > MAX_WORKER_TAGS:
        raise ValueError(f"A provisioner may have at most {MAX_WORKER_TAGS} tags.")
    keys = sorted(tags)
    queues = []
    for size in range(len(keys) + 1):
        for subset in itertools.combinations(keys, size):
            queues.append(queue_for({k: tags[k] for k in subset}))
    return queues
