"""Coder's schedule endpoints of a workspace: PUT autostart, ttl, extend and dormant."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.authz import Authz
from workspaces import dormancy, schedule_services
from workspaces.api.serializers import WorkspaceDetailSerializer
from workspaces.queries import current_resources, resolve_workspace


class _Strict(serializers.Serializer):
    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {unknown[0]: f"Unknown field; use {', '.join(sorted(self.fields))}."}
            )
        return attrs


class AutostartSerializer(_Strict):
    schedule = serializers.CharField(
        allow_blank=True,
        max_length=120,
        help_text='5-field cron, optionally "CRON_TZ=<zone> " first; "" or "manual" clears it.',
    )
    tz = serializers.CharField(
        required=False, allow_blank=True, max_length=64, help_text="IANA zone (default UTC)."
    )


class TTLSerializer(_Strict):
    ttl_ms = serializers.IntegerField(
        allow_null=True, min_value=0, help_text="null or 0 clears it (no autostop)."
    )


class ExtendSerializer(_Strict):
    deadline = serializers.DateTimeField(help_text="The new deadline, with its UTC offset.")


class DormantSerializer(_Strict):
    dormant = serializers.BooleanField(help_text="true marks it dormant; false reactivates it.")


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField()
    deadline = serializers.DateTimeField()


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class WorkspaceAutostartView(APIView):
    authorizes = {"PUT": Authz("workspace", "build")}

    @extend_schema(
        operation_id="workspace_autostart_update",
        request=AutostartSerializer,
        responses={204: None},
    )
    def put(self, request, workspace):
        """Set or clear the autostart schedule; 400 naming the cron field or zone at fault."""
        data = _valid(AutostartSerializer, request)
        target = resolve_workspace(workspace, request.user)
        schedule_services.set_autostart(
            target, actor=request.user, schedule_text=data["schedule"], tz=data.get("tz") or None
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class WorkspaceTTLView(APIView):
    authorizes = {"PUT": Authz("workspace", "build")}

    @extend_schema(
        operation_id="workspace_ttl_update", request=TTLSerializer, responses={204: None}
    )
    def put(self, request, workspace):
        """Set or clear the TTL: how long each start runs before autostop (from the next start)."""
        data = _valid(TTLSerializer, request)
        if data["ttl_ms"] and data["ttl_ms"] % 1000:
            raise serializers.ValidationError(
                {"ttl_ms": "Give whole seconds (a multiple of 1000)."}
            )
        target = resolve_workspace(workspace, request.user)
        ttl = data["ttl_ms"] // 1000 if data["ttl_ms"] else None
        schedule_services.set_ttl(target, actor=request.user, ttl_seconds=ttl)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WorkspaceExtendView(APIView):
    authorizes = {"PUT": Authz("workspace", "build")}

    @extend_schema(
        operation_id="workspace_extend",
        request=ExtendSerializer,
        responses={200: MessageSerializer},
    )
    def put(self, request, workspace):
        """Move the running build's deadline (>= 30 min ahead, <= its max_deadline)."""
        data = _valid(ExtendSerializer, request)
        target = resolve_workspace(workspace, request.user)
        build = schedule_services.extend_deadline(
            target, actor=request.user, deadline=data["deadline"]
        )
        return Response(
            {"message": "Deadline updated.", "deadline": build.deadline}, status=status.HTTP_200_OK
        )


class WorkspaceDormantView(APIView):
    authorizes = {"PUT": Authz("workspace", "build")}

    @extend_schema(
        operation_id="workspace_dormant_update",
        request=DormantSerializer,
        responses={200: WorkspaceDetailSerializer},
    )
    def put(self, request, workspace):
        """Mark the workspace dormant or reactivate it (its owner, or an owner-role admin)."""
        data = _valid(DormantSerializer, request)
        target = resolve_workspace(workspace, request.user)
        dormancy.set_dormant(target, actor=request.user, dormant=data["dormant"])
        fresh = resolve_workspace(workspace, request.user)
        return Response(
            WorkspaceDetailSerializer(
                fresh, context={"viewer": request.user, "resources": current_resources(fresh)}
            ).data
        )
