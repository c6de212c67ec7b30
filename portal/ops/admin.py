"""The console knows the deployment page's permission (owners, auditors), for its links."""

from portal.accounts.admin_permissions import declare_admin_permission

declare_admin_permission("ops.view_deployment", "deployment_settings", "read")
