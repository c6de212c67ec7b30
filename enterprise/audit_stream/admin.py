"""The console's read-only page per stream destination: backlog, oldest age, last success/error."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Min, OuterRef, Subquery
from django.utils import timezone
from django.utils.timesince import timesince

from enterprise.audit_stream import config, services
from enterprise.audit_stream.models import OutboxRow, StreamDestination
from enterprise.audit_stream.outbox import GATE
from portal import features, policy
from portal.accounts.admin_permissions import declare_admin_permission
from portal.admin_site import ReadOnlyAdmin, run_service_per_object
from portal.errors import Forbidden

declare_admin_permission("audit_stream.view_streamdestination", "audit_stream", "read")


def _per_destination(aggregate, *, refused: bool = False):
    rows = (
        OutboxRow.objects.filter(destination=OuterRef("name"), dead_at__isnull=not refused)
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
    actions = ("resend_refused",)

    def has_resend_permission(self, request) -> bool:
        return policy.can(request.user, "resend", "audit_stream")

    @admin.action(description="Re-send the entries the receiver refused", permissions=["resend"])
    def resend_refused(self, request, queryset):
        run_service_per_object(
            request,
            queryset,
            lambda stream: services.resend_refused(stream.name, actor=request.user),
            done="Queued the refused entries again for",
            label=lambda stream: stream.name,
        )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                pending=_per_destination(Count("id")),
                oldest=_per_destination(Min("created_at")),
                refused_rows=_per_destination(Count("id"), refused=True),
            )
        )

    def changelist_view(self, request, extra_context=None):
        try:
            features.require(GATE)
        except Forbidden as e:
            messages.warning(request, f"Delivery is paused (the backlog is kept): {e.message}")
        else:
            if not config.current().targets:
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
        return obj.refused_rows or 0
