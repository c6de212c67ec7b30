"""GET /api/v2/audit: the audit log, filterable, for auditors and owners."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from portal import policy
from portal.api.authz import Authz
from portal.api.views import ListView
from portal.errors import ValidationFailed


class AuditEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    time = serializers.DateTimeField()
    actor_id = serializers.UUIDField(allow_null=True)
    actor_username = serializers.CharField()
    ip = serializers.CharField(allow_null=True)
    user_agent = serializers.CharField()
    action = serializers.CharField()
    resource_type = serializers.CharField()
    resource_id = serializers.CharField()
    resource_target = serializers.CharField()
    diff = serializers.DictField()
    additional_fields = serializers.DictField()
    request_id = serializers.CharField()
    status_code = serializers.IntegerField()
    build_initiator_id = serializers.UUIDField(allow_null=True)  # a build's entries only
    build_reason = serializers.CharField(allow_null=True)

    def to_representation(self, e):
        return {f: getattr(e, f) for f in self.fields}


def _moment(params, name: str, *, day_end: bool = False) -> datetime | None:
    """An aware datetime; a bare date means the start of that day (or of the next, for `until`).

    Well-formed but impossible values (2024-13-01) make Django's parsers raise ValueError; they
    are the caller's mistake, so a 400, not a 500. Naive values are taken in the server's zone.
    """
    raw = params.get(name)
    if not raw:
        return None
    try:
        # The date first: parse_datetime() also reads a bare date, as midnight.
        if (day := parse_date(raw)) is not None:
            value = datetime.combine(day + timedelta(days=int(day_end)), time.min)
        else:
            value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        raise ValidationFailed.field(name, "Use an ISO 8601 date or date-time.")
    return timezone.make_aware(value) if timezone.is_naive(value) else value


class AuditView(ListView):
    serializer_class = AuditEntrySerializer
    authorizes = {"GET": Authz("audit", "read", whole=True)}

    def get_queryset(self):
        params = self.request.query_params
        qs = policy.visible_to(self.request.user, "audit")
        for param, field in (
            ("action", "action"),
            ("resource_type", "resource_type"),
            ("resource_id", "resource_id"),
            ("resource_target", "resource_target__iexact"),
            ("username", "actor_username__iexact"),
            ("request_id", "request_id"),
            ("build_reason", "build_reason"),
        ):
            if value := params.get(param):
                qs = qs.filter(**{field: value})
        if since := _moment(params, "since"):
            qs = qs.filter(time__gte=since)
        if until := _moment(params, "until", day_end=True):
            qs = qs.filter(time__lt=until)
        return qs.order_by("-time", "-id")

    @extend_schema(
        parameters=[
            OpenApiParameter(p, str)
            for p in (
                "action",
                "resource_type",
                "resource_id",
                "resource_target",
                "username",
                "request_id",
                "build_reason",
                "since",
                "until",
            )
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
