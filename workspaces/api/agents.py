"""Workspace agents under /api/v2/workspaceagents: an agent's status, apps and startup logs."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.authz import Authz
from portal.api.params import LOG_PAGE_PARAMETERS, log_page
from workspaces.api.serializers import AgentSerializer, agent_dict
from workspaces.choices import AgentLifecycle
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
