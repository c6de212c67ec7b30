"""Workspaces and builds under /api/v2: list, create, show, build, cancel and build logs."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.accounts import queries as user_queries
from portal.api.authz import Authz
from portal.api.params import LOG_PAGE_PARAMETERS, log_page
from portal.api.views import ListView
from portal.errors import NotFound, ValidationFailed
from templates_app.queries import resolve_template, resolve_version
from workspaces import queries, schedule, schedule_services, services
from workspaces.api import serializers as s
from workspaces.api.serializers import WorkspaceSerializer
from workspaces.choices import WorkspaceStatus
from workspaces.models import ProvisionerJobLog, Workspace
from workspaces.queries import current_resources, resolve_build, resolve_workspace, visible_builds

# Only what WorkspaceSerializer reads: loading whole joined rows doubled the cost of a page.
LIST_COLUMNS = (
    "name",
    "owner_id",
    "template_id",
    "latest_build_id",
    "created_at",
    "updated_at",
    "last_used_at",
    "autostart_schedule",
    "ttl_seconds",
    "next_autostart_at",
    "autostart_refusal",
    "dormant_at",
    "deleting_at",
    "owner__username",
    "template__name",
    "template__display_name",
    "template__active_version_id",
    "template__deprecation_message",
    "latest_build__template_version__name",
    "latest_build__template_version__deprecation_message",
    "latest_build__build_number",
    "latest_build__transition",
    "latest_build__reason",
    "latest_build__template_version_id",
    "latest_build__daily_cost",
    "latest_build__created_at",
    "latest_build__deadline",
    "latest_build__max_deadline",
    "latest_build__job__status",
)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _detail_body(workspace: Workspace, viewer) -> dict:
    return s.WorkspaceDetailSerializer(
        workspace, context={"viewer": viewer, "resources": current_resources(workspace)}
    ).data


class WorkspacesView(ListView):
    serializer_class = WorkspaceSerializer
    authorizes = {
        "GET": Authz("workspace", "read", many=True),
        "POST": Authz("workspace", "create"),
    }

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
        return (
            queries.with_latest_build(qs)
            .select_related("latest_build__template_version")
            .only(*LIST_COLUMNS)
            .order_by("-created_at", "-id")
        )

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

    @extend_schema(
        operation_id="workspaces_create",
        request=s.CreateWorkspaceSerializer,
        responses={201: s.WorkspaceDetailSerializer},
    )
    def post(self, request):
        """Create a workspace and queue its first build (start)."""
        data = _valid(s.CreateWorkspaceSerializer, request)
        user = request.user
        owner = user_queries.resolve_user(data["owner"], me=user)
        field = "template_id" if data.get("template_id") else "template"
        try:
            template = resolve_template(str(data.get("template_id") or data["template"]), user)
        except NotFound as e:
            raise ValidationFailed.field(field, e.message) from None
        version = None
        if data.get("version_id"):
            try:
                version = resolve_version(data["version_id"], user)
            except NotFound as e:
                raise ValidationFailed.field("version_id", e.message) from None
        schedule_text = data.get("autostart_schedule") or ""
        if schedule_text:
            schedule.parse(schedule_text, field="autostart_schedule")  # refused before creating
        # The workspace and its schedule, or neither (Coder's create fields).
        with transaction.atomic():
            workspace = services.create_workspace(
                actor=user,
                owner=owner,
                template=template,
                name=data["name"],
                parameters=data["parameters"],
                version=version,
            )
            if schedule_text:
                schedule_services.set_autostart(workspace, actor=user, schedule_text=schedule_text)
            if "ttl_ms" in data:
                ttl = data["ttl_ms"] // 1000 if data["ttl_ms"] else None
                schedule_services.set_ttl(workspace, actor=user, ttl_seconds=ttl)
        body = _detail_body(resolve_workspace(workspace.id, user), user)
        return Response(body, status=status.HTTP_201_CREATED)


class WorkspaceDetailView(APIView):
    authorizes = {"GET": Authz("workspace", "read")}

    @extend_schema(operation_id="workspace_get", responses=s.WorkspaceDetailSerializer)
    def get(self, request, workspace):
        """A workspace with its latest build, status, and resources with agents and apps."""
        return Response(_detail_body(resolve_workspace(workspace, request.user), request.user))


class UserWorkspaceView(APIView):
    authorizes = {"GET": Authz("workspace", "read")}

    @extend_schema(operation_id="user_workspace_get", responses=s.WorkspaceDetailSerializer)
    def get(self, request, user, name):
        """A workspace by its owner (`me`, username or id) and name."""
        owner = user_queries.resolve_user(user, me=request.user)
        workspace = (
            queries.detailed(queries.visible_to(request.user))
            .filter(owner=owner, name__iexact=name)
            .first()
        )
        if workspace is None:
            raise NotFound(f"{owner.username} has no workspace {name!r}.")
        return Response(_detail_body(workspace, request.user))


class WorkspaceBuildsView(ListView):
    serializer_class = s.BuildSerializer
    authorizes = {"GET": Authz("workspace", "read"), "POST": Authz("workspace", "build")}

    def get_queryset(self):
        workspace = resolve_workspace(self.kwargs["workspace"], self.request.user)
        return visible_builds(self.request.user).filter(workspace=workspace)

    @extend_schema(operation_id="workspace_builds_list")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="workspace_builds_create",
        request=s.CreateBuildSerializer,
        responses={201: s.BuildSerializer},
    )
    def post(self, request, workspace):
        """Queue a start, stop or delete build; 409 while another build of it is active."""
        data = _valid(s.CreateBuildSerializer, request)
        target = resolve_workspace(workspace, request.user)
        version = None
        if data.get("version_id"):
            try:
                version = resolve_version(data["version_id"], request.user)
            except NotFound as e:
                raise ValidationFailed.field("version_id", e.message) from None
        build = services.create_build(
            target,
            actor=request.user,
            transition=data["transition"],
            version=version,
            parameters=data["parameters"],
            orphan=data["orphan"],
        )
        body = s.BuildSerializer(resolve_build(build.id, request.user)).data
        return Response(body, status=status.HTTP_201_CREATED)


class WorkspaceRestartView(APIView):
    authorizes = {"POST": Authz("workspace", "build")}

    @extend_schema(
        operation_id="workspace_restart",
        request=s.RestartSerializer,
        responses={201: s.BuildSerializer},
    )
    def post(self, request, workspace):
        """Restart: queue a stop build the server follows with a start once it succeeded.

        Returns the stop build (`then_start` true); 409 while another build is active. Changed
        parameter values are checked now and apply to the start.
        """
        data = _valid(s.RestartSerializer, request)
        target = resolve_workspace(workspace, request.user)
        build = services.restart_workspace(
            target, actor=request.user, parameters=data["parameters"]
        )
        body = s.BuildSerializer(resolve_build(build.id, request.user)).data
        return Response(body, status=status.HTTP_201_CREATED)


class WorkspaceBuildDetailView(APIView):
    authorizes = {"GET": Authz("build", "read")}

    @extend_schema(operation_id="workspace_build_get", responses=s.BuildSerializer)
    def get(self, request, build):
        return Response(s.BuildSerializer(resolve_build(build, request.user)).data)


class WorkspaceBuildCancelView(APIView):
    authorizes = {"PATCH": Authz("build", "cancel")}

    @extend_schema(operation_id="workspace_build_cancel", request=None, responses=s.BuildSerializer)
    def patch(self, request, build):
        """Cancel a pending build at once; ask the provisioner to stop a running one."""
        target = resolve_build(build, request.user)
        services.cancel_build(target, actor=request.user)
        return Response(s.BuildSerializer(resolve_build(build, request.user)).data)


class WorkspaceBuildLogsView(APIView):
    authorizes = {"GET": Authz("build", "read")}

    @extend_schema(
        operation_id="workspace_build_logs",
        parameters=LOG_PAGE_PARAMETERS,
        responses=s.BuildLogPageSerializer,
    )
    def get(self, request, build):
        """The build's log lines in id order; page with `after` = the last id you got.

        A WebSocket at the same path follows the log live until the build ends.
        """
        target = resolve_build(build, request.user)
        rows, count = log_page(request, ProvisionerJobLog.objects.filter(job_id=target.job_id))
        body = {"count": count, "job_status": target.job.status, "results": rows}
        return Response(s.BuildLogPageSerializer(body).data)
