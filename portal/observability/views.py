"""/metrics on the main address (owners, or the scrape token), the health report's API, and its
console page. The separate Prometheus address (server.py) serves the same text to anyone."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from portal import policy
from portal.accounts.authentication import (
    SessionAuthentication,
    TokenAuthentication,
    token_from_request,
)
from portal.accounts.permissions import IsActiveUser
from portal.api.authz import Authz
from portal.observability import exposition, health

SCRAPER = object()  # request.auth of a caller holding PORTAL_PROMETHEUS_TOKEN


class ScrapeTokenAuthentication(BaseAuthentication):
    """The bearer token PORTAL_PROMETHEUS_TOKEN, if one is set: it may read /metrics only."""

    def authenticate(self, request):
        expected = settings.PORTAL_PROMETHEUS_TOKEN
        raw = token_from_request(request)
        if expected and raw and hmac.compare_digest(raw.encode(), expected.encode()):
            return (None, SCRAPER)
        return None

    def authenticate_header(self, request):
        return 'Bearer realm="portal"'


class MayScrape(BasePermission):
    message = "Only owners (or Prometheus with PORTAL_PROMETHEUS_TOKEN) may read the metrics."

    def has_permission(self, request, view) -> bool:
        if request.auth is SCRAPER:
            return True
        IsActiveUser().has_permission(request, view)  # 401 signed out, 403 suspended
        return request.user.is_active and policy.can(request.user, "read", "deployment")


class MetricsView(APIView):
    authentication_classes = [ScrapeTokenAuthentication, TokenAuthentication, SessionAuthentication]
    permission_classes = [MayScrape]
    schema = None  # not part of the REST API

    def get(self, request):
        return HttpResponse(exposition.render(), content_type=exposition.CONTENT_TYPE)


_CHECKS = inline_serializer(
    "HealthCheckLine",
    many=True,
    fields={
        "name": serializers.CharField(),
        "title": serializers.CharField(),
        "status": serializers.ChoiceField(choices=health.STATUSES),
        "message": serializers.CharField(),
        "details": serializers.DictField(),
        "duration_ms": serializers.FloatField(),
    },
)


class HealthReportView(APIView):
    """The deployment's health: each component with its status and what to fix."""

    authorizes = {"GET": Authz("deployment", "read", whole=True)}

    @extend_schema(
        responses=inline_serializer(
            "HealthReport",
            {
                "status": serializers.ChoiceField(choices=health.STATUSES),
                "healthy": serializers.BooleanField(),
                "checked_at": serializers.DateTimeField(),
                "checks": _CHECKS,
            },
        )
    )
    def get(self, request):
        return Response(health.report())


def console_page(request):
    """The health report in the operator console (owners)."""
    if not policy.can(request.user, "read", "deployment"):
        raise PermissionDenied
    context = {
        **admin.site.each_context(request),
        "title": "Deployment health",
        "report": health.report(),
    }
    return TemplateResponse(request, "admin/portal/health.html", context)
