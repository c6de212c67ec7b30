"""Routes of the workspaces and builds API."""

from django.urls import path

from workspaces.api import agents, ports, schedules, views
from workspaces.api.agent_bundle import AgentBundleView, AgentWheelIndexView, AgentWheelView
from workspaces.api.connection_policy import ConnectionPolicyView

urlpatterns = [
    path("deployment/connections", ConnectionPolicyView.as_view(), name="deployment-connections"),
    path("workspaces", views.WorkspacesView.as_view(), name="workspaces"),
    path("agent/portal-agent.pyz", AgentBundleView.as_view(), name="agent-bundle"),
    path("agent/wheels", AgentWheelIndexView.as_view(), name="agent-wheels"),
    path("agent/wheels/<str:filename>", AgentWheelView.as_view(), name="agent-wheel"),
    path(
        "workspaces/<uuid:workspace>", views.WorkspaceDetailView.as_view(), name="workspace-detail"
    ),
    path(
        "workspaces/<uuid:workspace>/builds",
        views.WorkspaceBuildsView.as_view(),
        name="workspace-builds",
    ),
    path(
        "workspaces/<uuid:workspace>/restart",
        views.WorkspaceRestartView.as_view(),
        name="workspace-restart",
    ),
    path(
        "workspaces/<uuid:workspace>/autostart",
        schedules.WorkspaceAutostartView.as_view(),
        name="workspace-autostart",
    ),
    path(
        "workspaces/<uuid:workspace>/ttl",
        schedules.WorkspaceTTLView.as_view(),
        name="workspace-ttl",
    ),
    path(
        "workspaces/<uuid:workspace>/extend",
        schedules.WorkspaceExtendView.as_view(),
        name="workspace-extend",
    ),
    path(
        "workspaces/<uuid:workspace>/port-share",
        ports.PortShareView.as_view(),
        name="workspace-port-share",
    ),
    path(
        "workspaces/<uuid:workspace>/dormant",
        schedules.WorkspaceDormantView.as_view(),
        name="workspace-dormant",
    ),
    path(
        "users/<str:user>/workspace/<str:name>",
        views.UserWorkspaceView.as_view(),
        name="user-workspace",
    ),
    path(
        "workspacebuilds/<uuid:build>",
        views.WorkspaceBuildDetailView.as_view(),
        name="workspacebuild-detail",
    ),
    path(
        "workspacebuilds/<uuid:build>/cancel",
        views.WorkspaceBuildCancelView.as_view(),
        name="workspacebuild-cancel",
    ),
    path(
        "workspacebuilds/<uuid:build>/logs",
        views.WorkspaceBuildLogsView.as_view(),
        name="workspacebuild-logs",
    ),
    path(
        "workspaceagents/me/logs",
        agents.AgentLogReportView.as_view(),
        name="workspaceagent-report-logs",
    ),
    path(
        "workspaceagents/<uuid:agent>",
        agents.WorkspaceAgentDetailView.as_view(),
        name="workspaceagent-detail",
    ),
    path(
        "workspaceagents/<uuid:agent>/logs",
        agents.WorkspaceAgentLogsView.as_view(),
        name="workspaceagent-logs",
    ),
    path(
        "workspaceagents/<uuid:agent>/listening-ports",
        ports.ListeningPortsView.as_view(),
        name="workspaceagent-listening-ports",
    ),
]
