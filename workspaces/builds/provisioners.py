"""Provisioner registration: the writes that say which provisioners are online, with what tags.

Services with an explicit actor: the system actor for this server's own workers (later, a
provisioner key for an external daemon). No audit entry: a provisioner re-announces itself every
few seconds, and the list of online provisioners is the record of who is there.
"""

from __future__ import annotations

import os
import socket

from django.utils import timezone

from portal_shared.version import __version__
from workspaces.models import Provisioner


def announce(
    worker: str,
    *,
    tags: dict[str, str],
    actor,
    key=None,
    version: str | None = None,
    hostname: str | None = None,
    pid: int | None = None,
) -> Provisioner:
    """Register `worker` with its tags, or refresh its registration (it is alive).

    An external daemon passes its provisioner `key` and what it says of itself (version, host,
    pid); this process's own workers are described from here.
    """
    del actor  # who may register is decided by the transport; the actor joins the audit later
    now = timezone.now()
    details = {
        "tags": tags,
        "version": (__version__ if version is None else version)[:64],
        "hostname": (socket.gethostname() if hostname is None else hostname)[:255],
        "pid": os.getpid() if pid is None and key is None else pid,
        "last_seen_at": now,
        "key_id": getattr(key, "pk", None),
        "key_name": getattr(key, "name", ""),
    }
    provisioner, _ = Provisioner.objects.update_or_create(
        id=worker, defaults=details, create_defaults={**details, "started_at": now}
    )
    return provisioner


def withdraw(worker: str, *, actor) -> None:
    """`worker` stopped: gone at once, so new jobs say "no online provisioner" without delay."""
    del actor
    Provisioner.objects.filter(id=worker).delete()
