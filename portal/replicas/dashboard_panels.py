"""The replicas' panel of the console dashboard: each server replica, online or stale (owners
and auditors, as the replicas list). One query: the table holds a row per running process."""

from __future__ import annotations

from portal.admin_site import changelist_url
from portal.registry import register_dashboard_panel
from portal.replicas.models import Replica

SHOWN = 20


def replicas() -> dict:
    rows = list(Replica.objects.order_by("-last_heartbeat_at", "id")[: SHOWN + 1])
    return {
        "replicas": rows[:SHOWN],
        "online": sum(1 for r in rows if r.online),
        "more": len(rows) > SHOWN,
        "link": changelist_url("replicas.replica"),
    }


register_dashboard_panel(
    "replicas",
    title="Server replicas",
    template="admin/portal/dashboard/replicas.html",
    data=replicas,
    permission="replicas.view_replica",
    order=15,
)
