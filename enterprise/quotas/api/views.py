"""A user's workspace quota: GET /api/v2/users/{user}/quota and Coder's workspace-quota path."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from enterprise.quotas import queries
from enterprise.quotas.api.serializers import QuotaSerializer
from enterprise.quotas.budget import usage_of
from enterprise.quotas.services import GATE
from portal import features
from portal.api.authz import Authz

_DESCRIPTION = (
    "What the user's workspaces cost a day (the latest build of each, persistent resources of "
    "stopped ones included) and their budget (their groups' allowances). The user themself "
    "(`me`), owners and user admins may read it; for anyone else the user is not found (404)."
)


def _quota(request, ref: str) -> Response:
    features.require(GATE)
    usage = usage_of(queries.resolve_subject(ref, request.user))
    return Response(
        QuotaSerializer({"credits_consumed": usage.consumed, "budget": usage.budget}).data
    )


class QuotaView(APIView):
    authorizes = {"GET": Authz("workspace_quota", "read")}

    @extend_schema(
        operation_id="user_quota_get", responses=QuotaSerializer, description=_DESCRIPTION
    )
    def get(self, request, user):
        return _quota(request, user)


class WorkspaceQuotaView(APIView):
    """Coder's path for the same answer."""

    authorizes = {"GET": Authz("workspace_quota", "read")}

    @extend_schema(
        operation_id="workspace_quota_get", responses=QuotaSerializer, description=_DESCRIPTION
    )
    def get(self, request, user):
        return _quota(request, user)
