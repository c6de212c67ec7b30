"""GET /api/v2/appearance (anyone; support links for signed-in users), PUT (owners)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from enterprise.appearance import services
from enterprise.appearance.api import serializers as s
from enterprise.appearance.cache import appearance_cache
from enterprise.appearance.snapshot import Snapshot
from portal import features, policy
from portal.api.authz import Authz
from portal.errors import ValidationFailed


def _shown(request) -> dict:
    """What the pages show now: Portal's defaults while the feature is off (the data is kept)."""
    snapshot = appearance_cache.get() if features.enabled(services.FEATURE) else Snapshot()
    return snapshot.full() if policy.active(request.user) else snapshot.public()


class AppearanceView(APIView):
    authorizes = {
        "GET": Authz("appearance", "read"),
        "PUT": Authz("appearance", "update", whole=True),
    }

    def get_permissions(self):
        if self.request.method == "GET":
            return [AllowAny()]  # the sign-in page shows the name, logo and banners
        return super().get_permissions()

    @extend_schema(operation_id="appearance_get", responses=s.AppearanceSerializer)
    def get(self, request):
        return Response(_shown(request))

    @extend_schema(
        operation_id="appearance_update",
        request=s.UpdateAppearanceSerializer,
        responses=s.AppearanceSerializer,
    )
    def put(self, request):
        if not isinstance(request.data, dict):
            raise ValidationFailed.field("body", "Send a JSON object.")
        services.update_appearance(actor=request.user, changes=request.data, via="api")
        return Response(appearance_cache.get().full())
