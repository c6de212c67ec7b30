"""GET /api/v2/deployment/connections: which kinds of connection the caller may open now."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.authz import Authz
from workspaces.connectivity.connections import KINDS, policy_refusal


class ConnectionKindSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=KINDS)
    allowed = serializers.BooleanField()
    reason = serializers.CharField(help_text="Why not, when refused; empty when allowed.")


class ConnectionPolicySerializer(serializers.Serializer):
    kinds = ConnectionKindSerializer(many=True)


class ConnectionPolicyView(APIView):
    # Any signed-in user asks about themselves (the deployment's rules, e.g. browser-only mode).
    authorizes = {"GET": Authz("workspace", "read", many=True)}

    @extend_schema(operation_id="deployment_connections", responses=ConnectionPolicySerializer)
    def get(self, request):
        """What the connection policy says for each kind of connection (ssh, port-forward,
        terminal, app) for the caller: `portal config-ssh` and the portal ask before offering
        one. The workspace-level checks still apply when connecting."""
        kinds = []
        for kind in KINDS:
            refused = policy_refusal(request.user, kind)
            kinds.append(
                {
                    "kind": kind,
                    "allowed": refused is None,
                    "reason": "" if refused is None else refused.message,
                }
            )
        return Response({"kinds": kinds})
