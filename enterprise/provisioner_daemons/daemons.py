"""The server's side of an external daemon: who it is, what it may serve, its job store.

Every call is one authenticated HTTPS request, so the job store the daemon talks to is this
server's own in-process `DatabaseJobStore`, resumed per request from the job's row: the next
request of a daemon may reach another server process (or replica) and still be its job's owner.
"""

from __future__ import annotations

import re
import threading

from enterprise.provisioner_daemons import keys
from enterprise.provisioner_daemons.models import ProvisionerKey
from portal.accounts.services import system_actor
from portal.errors import Forbidden, ValidationFailed
from workspaces.builds import provisioners
from workspaces.builds.job_store import DatabaseJobStore
from workspaces.models import Provisioner

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")
_stores: dict[str, DatabaseJobStore] = {}
_stores_lock = threading.Lock()


def worker_id(key: ProvisionerKey, name: str) -> str:
    """The daemon's provisioner id: its key's name in it, so no key can speak for another's."""
    if not _NAME.match(name or ""):
        raise ValidationFailed.field(
            "name", "A daemon's name is 1-64 letters, digits, '.', '_', ':', '@' or '-'."
        )
    return f"provisionerd:{key.name}:{name}"


def allowed_tags(key: ProvisionerKey, asked) -> dict[str, str]:
    """The tags a daemon serves: those it asked for, each of them one of its key's."""
    asked = keys.clean_tags(asked)
    if not asked:
        return dict(key.tags)
    outside = {k: v for k, v in asked.items() if key.tags.get(k) != v}
    if outside:
        wanted = ", ".join(f"{k}={v}" for k, v in sorted(outside.items()))
        mine = ", ".join(f"{k}={v}" for k, v in sorted(key.tags.items())) or "(none)"
        raise Forbidden(
            f"The provisioner key {key.name!r} does not allow the tags {wanted}.",
            detail=f"It allows: {mine}.",
        )
    return asked


def register(key: ProvisionerKey, *, name: str, tags, version: str, hostname: str) -> Provisioner:
    """Announce the daemon (it is alive, with these tags); returns its registration."""
    worker = worker_id(key, name)
    return provisioners.announce(
        worker,
        tags=allowed_tags(key, tags),
        actor=system_actor(),
        key=key,
        version=str(version or "")[:64],
        hostname=str(hostname or "")[:255],
    )


def store_for(worker: str) -> DatabaseJobStore:
    """One store per daemon in this process (it throttles heartbeat writes per job)."""
    with _stores_lock:
        store = _stores.get(worker)
        if store is None:
            store = _stores[worker] = DatabaseJobStore()
        return store


def job_store(worker: str, job_id: str) -> DatabaseJobStore:
    """The daemon's store, knowing `job_id` if the daemon owns it (else the store says JobLost)."""
    store = store_for(worker)
    store.resume(job_id, worker)
    return store
