"""/api/v2/audit/streams: each destination's delivery state; re-sending what a receiver refused."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from enterprise.audit_stream import services, status
from enterprise.audit_stream.outbox import GATE
from portal import features
from portal.api.authz import Authz
from portal.errors import ValidationFailed


class AuditStreamSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="syslog or webhook")
    target = serializers.CharField(allow_null=True, help_text="Where to (no secrets).")
    configured = serializers.BooleanField()
    backlog = serializers.IntegerField(help_text="Entries waiting to be sent.")
    oldest_undelivered_at = serializers.DateTimeField(allow_null=True)
    oldest_undelivered_age_seconds = serializers.FloatField(allow_null=True)
    refused = serializers.IntegerField(help_text="Entries the receiver refused for good (4xx).")
    delivered = serializers.IntegerField()
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_null=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField(help_text="Failed attempts in a row.")
    next_attempt_at = serializers.DateTimeField(allow_null=True, help_text="Backing off until.")


class AuditStreamsView(APIView):
    authorizes = {"GET": Authz("audit_stream", "read", whole=True)}

    @extend_schema(operation_id="audit_streams_list", responses=AuditStreamSerializer(many=True))
    def get(self, request):
        features.require(GATE)
        return Response(AuditStreamSerializer(status.streams(), many=True).data)


class ResentSerializer(serializers.Serializer):
    name = serializers.CharField()
    resent = serializers.IntegerField(help_text="Refused entries queued again.")


class ResendRefusedView(APIView):
    authorizes = {"POST": Authz("audit_stream", "resend", whole=True)}

    @extend_schema(
        operation_id="audit_streams_resend_refused", request=None, responses=ResentSerializer
    )
    def post(self, request, name):
        if request.data and not isinstance(request.data, dict):
            raise ValidationFailed.field("body", "This takes no body.")
        if unknown := sorted(request.data or {}):
            raise ValidationFailed.field(unknown[0], "Unknown field; this takes no body.")
        count = services.resend_refused(name, actor=request.user)
        return Response({"name": name, "resent": count})
