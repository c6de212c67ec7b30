"""Unauthenticated system endpoints: build information."""

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularJSONAPIView
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

import portal
from portal.api.authz import Authz


class BuildInfoView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    authorizes = {"GET": Authz("public", "read")}

    @extend_schema(
        responses=inline_serializer(
            "BuildInfo",
            {"version": serializers.CharField(), "access_url": serializers.CharField()},
        )
    )
    def get(self, request):
        return Response({"version": portal.__version__, "access_url": settings.PORTAL_ACCESS_URL})


class OpenAPIView(SpectacularJSONAPIView):
    """The OpenAPI document as JSON (the generic view answers YAML unless asked for JSON)."""

    authorizes = {"GET": Authz("public", "read")}
