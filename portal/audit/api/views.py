"""GET /api/v2/audit: the audit log, filterable, for auditors and owners."""

from __future__ import annotations

from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from portal.accounts.permissions import HasPermission, IsActiveUser
from portal.api.views import ListView
from portal.audit.models import AuditEntry
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

    def to_representation(self, e):
        return {f: getattr(e, f) for f in self.fields}


def _moment(params, name: str):
    raw = params.get(name)
    if not raw:
        return None
    value = parse_datetime(raw) or parse_date(raw)
    if value is None:
        raise ValidationFailed.field(name, "Use an ISO 8601 date or date-time.")
    return value


class AuditView(ListView):
    permission_classes = [IsActiveUser, HasPermission.of("audit.read")]
    serializer_class = AuditEntrySerializer

    def get_queryset(self):
        params = self.request.query_params
        qs = AuditEntry.objects.all()
        for param, field in (
            ("action", "action"),
            ("resource_type", "resource_type"),
            ("resource_id", "resource_id"),
            ("resource_target", "resource_target__iexact"),
            ("username", "actor_username__iexact"),
            ("request_id", "request_id"),
        ):
            if value := params.get(param):
                qs = qs.filter(**{field: value})
        if since := _moment(params, "since"):
            qs = qs.filter(time__gte=since)
        if until := _moment(params, "until"):
            qs = (
                qs.filter(time__lt=until)
                if hasattr(until, "hour")
                else qs.filter(time__date__lte=until)
            )
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
                "since",
                "until",
            )
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
