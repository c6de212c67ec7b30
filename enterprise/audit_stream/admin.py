"""The console's read-only page per stream destination: backlog, oldest age, last success/error."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Min, OuterRef, Subquery
from django.utils import timezone
from django.utils.timesince import timesince

from enterprise.audit_stream import config
from enterprise.audit_stream.models import OutboxRow, StreamDestination
from enterprise.audit_stream.outbox import GATE
from portal import features
from portal.accounts.admin_permissions import declare_admin_permission
from portal.admin_site import ReadOnlyAdmin
from portal.registry import registry

declare_admin_permission("audit_stream.view_streamdestination", "audit", "read")


def _per_destination(aggregate):
    rows = (
        OutboxRow.objects.filter(destination=OuterRef("name"), dead_at__isnull=True)
        .order_by()
        .values("destination")
        .annotate(value=aggregate)
        .values("value")
    )
    return Subquery(rows)


@admin.register(StreamDestination)
class StreamDestinationAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "target",
        "backlog",
        "oldest_undelivered",
        "last_success_at",
        "last_error",
        "last_error_at",
        "next_attempt_at",
        "attempts",
        "delivered_count",
        "refused",
    )
    fields = list_display
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                pending=_per_destination(Count("id")),
                oldest=_per_destination(Min("created_at")),
            )
        )

    def changelist_view(self, request, extra_context=None):
        if not features.enabled(GATE):
            description = registry["features"][GATE].description.rstrip(".")
            messages.warning(
                request,
                f"Delivery is paused: {description} needs a license with the {GATE} feature "
                f"(the backlog is kept).",
            )
        elif not config.current().targets:
            messages.info(
                request,
                "No destination is configured: set PORTAL_AUDIT_SYSLOG_ADDRESS or "
                "PORTAL_AUDIT_WEBHOOK_URL.",
            )
        return super().changelist_view(request, extra_context)

    @admin.display(description="target")
    def target(self, obj: StreamDestination) -> str:
        target = config.current().target(obj.name)
        return target.describe() if target else "not configured (backlog kept)"

    @admin.display(description="backlog", ordering="pending")
    def backlog(self, obj: StreamDestination) -> int:
        return obj.pending or 0

    @admin.display(description="oldest undelivered")
    def oldest_undelivered(self, obj: StreamDestination) -> str:
        return f"{timesince(obj.oldest, timezone.now())} old" if obj.oldest else "-"

    @admin.display(description="refused (4xx)")
    def refused(self, obj: StreamDestination) -> int:
        return obj.dead_count
