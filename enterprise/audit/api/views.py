"""GET /api/v2/audit (searchable list) and /api/v2/audit/export, for auditors and owners."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.views import APIView

from enterprise.audit import export, gate, queries, services
from enterprise.audit.pagination import AuditPagination
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


Q_PARAMETER = OpenApiParameter(
    "q",
    str,
    description="Search: resource_type: resource_id: action: username: email: date_from: "
    "date_to: build_reason: status: (403 or 4xx), quoted values, and free text.",
)
LEGACY_PARAMETERS = [OpenApiParameter(p, str) for p, _ in queries.LEGACY_FILTERS] + [
    OpenApiParameter("since", str),
    OpenApiParameter("until", str),
]


class AuditView(ListView):
    serializer_class = AuditEntrySerializer
    pagination_class = AuditPagination
    authorizes = {"GET": Authz("audit", "read", whole=True)}

    def get_queryset(self):
        return queries.entries(self.request.user, self.request.query_params)

    @extend_schema(parameters=[Q_PARAMETER, *LEGACY_PARAMETERS])
    def get(self, request, *args, **kwargs):
        gate.require()
        return super().get(request, *args, **kwargs)


class _FormatIsOurs(DefaultContentNegotiation):
    """`?format=` names the export's format here, not a DRF renderer (errors stay JSON)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class AuditExportView(APIView):
    content_negotiation_class = _FormatIsOurs
    authorizes = {"GET": Authz("audit", "read", whole=True)}

    @extend_schema(
        parameters=[
            Q_PARAMETER,
            OpenApiParameter(
                "format", str, enum=sorted(export.FORMATS), description="csv or ndjson"
            ),
            *LEGACY_PARAMETERS,
        ],
        responses={(200, "text/csv"): str, (200, "application/x-ndjson"): str},
    )
    def get(self, request):
        gate.require()
        params = request.query_params
        fmt = params.get("format", "csv")
        if fmt not in export.FORMATS:
            raise ValidationFailed.field("format", "Use csv or ndjson.")
        queryset = queries.entries(request.user, params)  # a bad query is a 400 before anything
        services.record_export(actor=request.user, params=params, fmt=fmt)
        response = StreamingHttpResponse(
            export.stream(queryset, fmt), content_type=export.FORMATS[fmt]
        )
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
        response["Cache-Control"] = "no-store"
        response["X-Accel-Buffering"] = "no"  # a proxy in front should pass rows on as they come
        return response
