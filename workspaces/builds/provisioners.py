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


def announce(worker: str, *, tags: dict[str, str], actor) -> Provisioner:
    """Register `worker` with its tags, or refresh its registration (it is alive)."""
    del actor  # who may register is decided by the transport; the actor joins the audit later
    now = timezone.now()
    details = {
        "tags": tags,
        "version": __version__,
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "last_seen_at": now,
    }
    provisioner, _ = Provisioner.objects.update_or_create(
        id=worker, defaults=details, create_defaults={**details, "started_at": now}
    )
    return provisioner


def withdraw(worker: str, *, actor) -> None:
    """`worker` stopped: gone at once, so new jobs say "no online provisioner" without delay."""
    del actor
    Provisioner.objects.filter(id=worker).delete()
