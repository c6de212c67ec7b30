"""The audit log's panel of the console dashboard: the latest entries (owners and auditors).

The ten newest by the indexed time column (a backward index scan that stops at ten rows): no
count, whatever the size of the log."""

from __future__ import annotations

from enterprise.audit import gate
from portal.admin_site import changelist_url
from portal.audit.models import AuditEntry
from portal.registry import register_dashboard_panel

LATEST = 10


def latest_entries() -> dict:
    if not gate.enabled():  # browsing the log is licensed, as its console list
        return {"refusal": gate.refusal()}
    entries = AuditEntry.objects.order_by("-time", "-id").only(
        "id", "time", "actor_username", "action", "resource_type", "resource_target", "status_code"
    )[:LATEST]
    return {"entries": list(entries), "link": changelist_url("audit.auditentry")}


register_dashboard_panel(
    "audit",
    title="Latest audit entries",
    template="admin/portal/dashboard/audit.html",
    data=latest_entries,
    permission="audit.view_auditentry",
    order=90,
)
