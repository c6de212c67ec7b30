"""The console's replica list: read-only, rows are written by the server processes."""

from django.contrib import admin

from portal.accounts.admin_permissions import declare_admin_permission
from portal.admin_site import ReadOnlyAdmin
from portal.replicas.models import Replica

declare_admin_permission("replicas.view_replica", "replica", "read")


@admin.register(Replica)
class ReplicaAdmin(ReadOnlyAdmin):
    list_display = (
        "hostname",
        "pid",
        "relay_address",
        "status",
        "last_heartbeat_at",
        "started_at",
        "database_latency_ms",
        "version",
        "error",
    )
    readonly_fields = (
        "id",
        "hostname",
        "pid",
        "relay_address",
        "region_id",
        "version",
        "started_at",
        "last_heartbeat_at",
        "database_latency_ms",
        "error",
    )
    fields = readonly_fields
    actions = None

    @admin.display(description="Status")
    def status(self, row):
        return row.status
