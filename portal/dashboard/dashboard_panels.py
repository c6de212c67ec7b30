"""The dashboard's own panel: deployment health, from the periodic snapshot (owners)."""

from portal.accounts.admin_permissions import declare_admin_permission
from portal.dashboard import health
from portal.registry import register_dashboard_panel

# Who may read the health report (portal/observability's `deployment` policy) sees its panel.
HEALTH_PERMISSION = "dashboard.view_health"
declare_admin_permission(HEALTH_PERMISSION, "deployment", "read")

register_dashboard_panel(
    "health",
    title="Deployment health",
    template="admin/portal/dashboard/health.html",
    data=health.panel_data,
    permission=HEALTH_PERMISSION,
    order=10,
)
