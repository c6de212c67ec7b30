"""Unauthenticated system endpoints: build information."""

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

import portal


class BuildInfoView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses=inline_serializer(
            "BuildInfo",
            {"version": serializers.CharField(), "access_url": serializers.CharField()},
        )
    )
    def get(self, request):
        return Response({"version": portal.__version__, "access_url": settings.PORTAL_ACCESS_URL})
