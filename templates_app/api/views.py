"""GET /api/v2/templates: the templates the caller may use."""

from __future__ import annotations

from rest_framework import serializers

from portal.api.views import ListView
from templates_app import queries


class TemplateSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    display_name = serializers.CharField()
    description = serializers.CharField()
    icon = serializers.CharField()
    active_version_id = serializers.UUIDField(allow_null=True)
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, t):
        return {
            "id": t.id,
            "name": t.name,
            "display_name": t.display_name or t.name,
            "description": t.description,
            "icon": t.icon,
            "active_version_id": t.active_version_id,
            "created_by": t.created_by.username,
            "created_at": t.created_at,
            "updated_at": t.updated_at,
        }


class TemplatesView(ListView):
    serializer_class = TemplateSerializer

    def get_queryset(self):
        qs = queries.visible_to(self.request.user).select_related("created_by")
        if q := self.request.query_params.get("q"):
            qs = qs.filter(name__icontains=q)
        return qs.order_by("name")
