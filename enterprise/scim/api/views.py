"""/api/v2/scim/keys: owners list, create (the secret is shown once) and revoke SCIM keys."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from enterprise.scim import keys
from enterprise.scim.api import serializers as s
from enterprise.scim.models import ScimKey
from portal.api.authz import Authz
from portal.api.views import ListView


class ScimKeysView(ListView):
    serializer_class = s.ScimKeySerializer
    authorizes = {
        "GET": Authz("scim_key", "read", whole=True),
        "POST": Authz("scim_key", "create", whole=True),
    }

    def get_queryset(self):
        return ScimKey.objects.filter(revoked_at__isnull=True).select_related("created_by")

    @extend_schema(operation_id="scim_keys_list")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="scim_keys_create",
        request=s.CreateScimKeySerializer,
        responses={201: s.CreatedScimKeySerializer},
    )
    def post(self, request):
        serializer = s.CreateScimKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, secret = keys.create_key(actor=request.user, name=serializer.validated_data["name"])
        body = {**s.ScimKeySerializer(key).data, "key": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class ScimKeyDetailView(APIView):
    authorizes = {"DELETE": Authz("scim_key", "delete", whole=True)}

    @extend_schema(operation_id="scim_keys_revoke", responses={204: None})
    def delete(self, request, key):
        keys.revoke_key(keys.live_key(key), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
