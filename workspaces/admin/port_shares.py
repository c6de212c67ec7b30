"""Shared ports in the console: who shares which port with whom; owners may stop a share."""

from __future__ import annotations

from django.contrib import admin

from portal import policy
from portal.accounts.admin_permissions import declare_admin_permission
from portal.admin_site import ReadOnlyAdmin, run_service_per_object
from workspaces import port_sharing
from workspaces.models import WorkspacePortShare

# Who sees every workspace (workspace.read_all) sees their shares.
declare_admin_permission("workspaces.view_workspaceportshare", "workspace", "read")


@admin.register(WorkspacePortShare)
class WorkspacePortShareAdmin(ReadOnlyAdmin):
    list_display = ("workspace", "owner", "agent_name", "port", "share_level", "created_at")
    list_filter = ("share_level",)
    list_select_related = ("workspace__owner",)
    search_fields = ("workspace__name", "workspace__owner__username", "agent_name", "port")
    date_hierarchy = "created_at"
    fields = ("workspace", "agent_name", "port", "share_level", "protocol", "created_at")
    readonly_fields = fields
    actions = ("unshare",)

    @admin.display(description="owner", ordering="workspace__owner__username")
    def owner(self, share: WorkspacePortShare) -> str:
        return share.workspace.owner.username

    def has_unshare_permission(self, request) -> bool:
        # The service lets the workspace's owner, or workspace.manage_all, stop a share.
        return policy.can(request.user, "build", "workspace")

    @admin.action(description="Stop sharing the selected ports", permissions=["unshare"])
    def unshare(self, request, queryset):
        run_service_per_object(
            request,
            queryset.select_related("workspace"),
            lambda share: port_sharing.unshare_port(
                share.workspace, actor=request.user, agent_name=share.agent_name, port=share.port
            ),
            done="No longer shared",
            label=lambda share: f"{share.workspace.name}.{share.agent_name}:{share.port}",
        )
