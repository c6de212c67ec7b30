"""GET /api/v2/workspaces: workspaces with their latest build, in one query per page."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from portal.api.views import ListView
from portal.errors import ValidationFailed
from workspaces import queries
from workspaces.choices import WorkspaceStatus, workspace_status


class BuildSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    build_number = serializers.IntegerField()
    transition = serializers.CharField()
    reason = serializers.CharField()
    job_status = serializers.CharField()
    template_version_id = serializers.UUIDField()
    daily_cost = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class WorkspaceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    owner_id = serializers.UUIDField()
    owner_name = serializers.CharField()
    template_id = serializers.UUIDField()
    template_name = serializers.CharField()
    template_display_name = serializers.CharField()
    status = serializers.ChoiceField(choices=WorkspaceStatus.choices)
    outdated = serializers.BooleanField()
    latest_build = BuildSummarySerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, w):
        build = w.latest_build
        job = build.job if build else None
        template = w.template
        return {
            "id": w.id,
            "name": w.name,
            "owner_id": w.owner_id,
            "owner_name": w.owner.username,
            "template_id": w.template_id,
            "template_name": template.name,
            "template_display_name": template.display_name or template.name,
            "status": workspace_status(build and build.transition, job and job.status),
            "outdated": bool(build and build.template_version_id != template.active_version_id),
            "latest_build": build
            and {
                "id": build.id,
                "build_number": build.build_number,
                "transition": build.transition,
                "reason": build.reason,
                "job_status": job.status,
                "template_version_id": build.template_version_id,
                "daily_cost": build.daily_cost,
                "created_at": build.created_at,
            },
            "created_at": w.created_at,
            "updated_at": w.updated_at,
            "last_used_at": w.last_used_at,
        }


# Only what WorkspaceSerializer reads: loading whole joined rows doubled the cost of a page.
LIST_COLUMNS = (
    "name",
    "owner_id",
    "template_id",
    "latest_build_id",
    "created_at",
    "updated_at",
    "last_used_at",
    "owner__username",
    "template__name",
    "template__display_name",
    "template__active_version_id",
    "latest_build__build_number",
    "latest_build__transition",
    "latest_build__reason",
    "latest_build__template_version_id",
    "latest_build__daily_cost",
    "latest_build__created_at",
    "latest_build__job__status",
)


class WorkspacesView(ListView):
    serializer_class = WorkspaceSerializer

    def get_queryset(self):
        user = self.request.user
        params = self.request.query_params
        qs = queries.visible_to(user)
        owner = params.get("owner")
        if owner == "me":
            qs = qs.filter(owner=user)
        elif owner:
            qs = qs.filter(owner__username__iexact=owner)
        if template := params.get("template"):
            qs = qs.filter(template__name=template)
        if name := params.get("name"):
            qs = qs.filter(name__icontains=name)
        if st := params.get("status"):
            if st not in queries.STATUS_FILTERS:
                raise ValidationFailed.field(
                    "status", f"Use one of: {', '.join(WorkspaceStatus.values)}."
                )
            qs = qs.filter(queries.STATUS_FILTERS[st])
        return queries.with_latest_build(qs).only(*LIST_COLUMNS).order_by("-created_at", "-id")

    @extend_schema(
        parameters=[
            OpenApiParameter("owner", str, description="`me` or a username"),
            OpenApiParameter("template", str),
            OpenApiParameter("name", str),
            OpenApiParameter("status", str),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
