"""/api/v2/external-auth: the providers with whether I am linked; unlink."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.authz import Authz
from portal.external_auth import queries, services
from portal.external_auth.api import serializers as s


class ExternalAuthListView(APIView):
    authorizes = {"GET": Authz("external_auth", "read", many=True)}

    @extend_schema(
        operation_id="external_auth_list",
        responses=s.ExternalAuthProviderSerializer(many=True),
        description="Every configured external auth provider (git host) and whether you are "
        "linked to it. Link in the browser at `link_url`.",
    )
    def get(self, request):
        return Response([s.as_api(st) for st in queries.statuses(request.user)])


class ExternalAuthDetailView(APIView):
    authorizes = {
        "GET": Authz("external_auth", "read"),
        "DELETE": Authz("external_auth", "delete"),
    }

    @extend_schema(operation_id="external_auth_get", responses=s.ExternalAuthProviderSerializer)
    def get(self, request, provider):
        found = queries.resolve(provider)
        return Response(s.as_api(queries.status(request.user, found)))

    @extend_schema(
        operation_id="external_auth_unlink",
        responses={204: None},
        description="Forget your tokens for this provider (revoke the grant at the provider "
        "too if you want it gone there).",
    )
    def delete(self, request, provider):
        found = queries.resolve(provider)
        services.unlink(request.user, found.id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
