"""Workspace agents under /api/v2/workspaceagents: an agent's status, apps and startup logs."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.authz import Authz
from portal.api.params import LOG_PAGE_PARAMETERS, log_page
from workspaces.api.serializers import AgentSerializer, agent_dict
from workspaces.choices import AgentLifecycle
from workspaces.connectivity import agents as agent_service
from workspaces.models import WorkspaceAgentLog
from workspaces.queries import resolve_agent

AGENT_LOG_FIELDS = ("id", "created_at", "source", "level", "output")


class WorkspaceAgentSerializer(AgentSerializer):
    workspace_id = serializers.UUIDField()
    workspace_name = serializers.CharField()
    resource_id = serializers.UUIDField()
    build_id = serializers.UUIDField()


class AgentLogSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    source = serializers.CharField()
    level = serializers.CharField()
    output = serializers.CharField()


class AgentLogPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Log lines after `after` (this page and later).")
    lifecycle_state = serializers.ChoiceField(
        choices=AgentLifecycle.choices, help_text="The agent's lifecycle when the page was read."
    )
    results = AgentLogSerializer(many=True)


class WorkspaceAgentDetailView(APIView):
    authorizes = {"GET": Authz("agent", "read")}

    @extend_schema(operation_id="workspace_agent_get", responses=WorkspaceAgentSerializer)
    def get(self, request, agent):
        """An agent: connection status, lifecycle, last seen, and its apps with their health."""
        target = resolve_agent(agent, request.user)
        build = target.resource.job.build
        body = {
            **agent_dict(target),
            "workspace_id": build.workspace_id,
            "workspace_name": build.workspace.name,
            "resource_id": target.resource_id,
            "build_id": build.id,
        }
        # Rendered as is, like the agents inside the workspace detail (same timestamp format).
        return Response(body)


class WorkspaceAgentLogsView(APIView):
    authorizes = {"GET": Authz("agent", "read")}

    @extend_schema(
        operation_id="workspace_agent_logs",
        parameters=LOG_PAGE_PARAMETERS,
        responses=AgentLogPageSerializer,
    )
    def get(self, request, agent):
        """The agent's startup and script log lines in id order; page with `after`."""
        target = resolve_agent(agent, request.user)
        rows, count = log_page(
            request, WorkspaceAgentLog.objects.filter(agent=target), AGENT_LOG_FIELDS
        )
        body = {"count": count, "lifecycle_state": target.lifecycle_state, "results": rows}
        return Response(AgentLogPageSerializer(body).data)


class AgentLogReportSerializer(serializers.Serializer):
    source = serializers.CharField(
        required=False, default="external", help_text="Shown with each line, e.g. docker."
    )
    logs = serializers.ListField(child=serializers.DictField(), allow_empty=True)


class AgentLogReportResultSerializer(serializers.Serializer):
    stored = serializers.IntegerField()
    dropped = serializers.IntegerField()
    connected = serializers.BooleanField(help_text="The agent has connected to Portal.")
    lifecycle_state = serializers.ChoiceField(choices=AgentLifecycle.choices)


class AgentLogReportView(APIView):
    """PATCH /api/v2/workspaceagents/me/logs: lines posted with the agent's token by what runs
    beside the agent before it connects (a container or pod watcher), as Coder's is."""

    # The agent token is the credential, checked below; user tokens and sessions mean nothing.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    authorizes = {"PATCH": Authz("agent_token", "report")}

    def get_authenticate_header(self, request):
        return 'Bearer realm="agent"'  # so a refused token is a 401, as everywhere else

    @extend_schema(
        operation_id="workspace_agent_report_logs",
        request=AgentLogReportSerializer,
        responses=AgentLogReportResultSerializer,
    )
    def patch(self, request):
        """Append lines to the startup log of the agent whose token is sent as Bearer."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        agent = agent_service.authenticate_agent(
            token.strip() if scheme.lower() == "bearer" else None
        )
        if agent is None:
            raise NotAuthenticated(
                "Send 'Authorization: Bearer <agent token>' of an agent of a running workspace."
            )
        data = AgentLogReportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = data.validated_data["source"]
        logs = [{**entry, "source": source} for entry in data.validated_data["logs"]]
        rows, dropped = agent_service.append_logs(agent, logs)
        body = {
            "stored": len(rows),
            "dropped": dropped,
            "connected": agent.last_connected_at is not None,
            "lifecycle_state": agent.lifecycle_state,
        }
        return Response(AgentLogReportResultSerializer(body).data)
