"""Upload, list and delete licenses (owners; auditors read); everyone reads entitlements."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from licensing import entitlements, services
from licensing.api import serializers as s
from portal import policy
from portal.api.authz import Authz
from portal.api.views import ListView
from portal.errors import NotFound


class LicensesView(ListView):
    serializer_class = s.LicenseSerializer
    authorizes = {
        "GET": Authz("license", "read", whole=True),
        "POST": Authz("license", "create", whole=True),
    }

    def get_queryset(self):
        return (
            policy.visible_to(self.request.user, "license")
            .select_related("uploaded_by")
            .order_by("id")
        )

    @extend_schema(operation_id="licenses_list")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.UploadLicenseSerializer, responses={201: s.LicenseSerializer})
    def post(self, request):
        serializer = s.UploadLicenseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = services.add_license(serializer.validated_data["license"], actor=request.user)
        return Response(s.LicenseSerializer(row).data, status=status.HTTP_201_CREATED)


class LicenseDetailView(APIView):
    authorizes = {"DELETE": Authz("license", "delete", whole=True)}

    @extend_schema(operation_id="license_delete", responses={204: None})
    def delete(self, request, license: int):
        row = policy.visible_to(request.user, "license", "delete").filter(pk=license).first()
        if row is None:
            raise NotFound(f"No license with id {license}.")
        services.delete_license(row, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EntitlementsView(APIView):
    # Every active user reads which features are on (pages adapt to them); the warnings,
    # errors, user count and deployment id only those who may read licenses.
    authorizes = {"GET": Authz("license", "read", many=True)}

    @extend_schema(operation_id="entitlements_get", responses=s.EntitlementsSerializer)
    def get(self, request):
        result = entitlements.current()
        reader = policy.can(request.user, "read", "license")
        body = s.EntitlementsSerializer(result).data
        if not reader:
            body["warnings"], body["errors"], body["deployment_id"] = [], [], None
            body["features"]["user_limit"]["actual"] = None  # how many people use it: theirs
        return Response(body)
