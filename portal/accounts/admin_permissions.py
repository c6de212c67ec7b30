"""The operator console's model permissions ("app.view_model"), answered by the policy."""

from __future__ import annotations

from portal import policy

# Django admin permissions ("app.action_model") mapped onto the policy: the console may show a
# model to whoever may do the action on the whole resource. Anything absent is refused; add and
# delete are mostly absent because those writes go through services.
ADMIN_PERMISSIONS: dict[str, tuple[str, str]] = {
    "accounts.view_user": ("user", "read"),  # user.read
    "accounts.change_user": ("user", "update_status"),
    "accounts.add_user": ("user", "create"),
    "accounts.view_apitoken": ("token", "read"),  # token.read_all
    "accounts.change_apitoken": ("token", "delete"),  # token.revoke_all
    "audit.view_auditentry": ("audit", "read"),
    "templates_app.view_template": ("template", "read"),  # template.read_all
    "templates_app.view_templateversion": ("template", "read"),
    "templates_app.view_file": ("file", "read"),  # template.manage
    "workspaces.view_workspace": ("workspace", "read"),  # workspace.read_all
    "workspaces.view_workspacebuild": ("workspace", "read"),
    "workspaces.view_workspaceresource": ("workspace", "read"),
    "workspaces.view_workspaceagent": ("workspace", "read"),
    "workspaces.view_workspaceapp": ("workspace", "read"),
    "workspaces.view_provisionerjob": ("job", "read"),  # job.read_all
    "workspaces.view_provisionerjoblog": ("job", "read"),
    "workspaces.view_provisioner": ("job", "read"),
}


def declare_admin_permission(perm: str, resource: str, action: str) -> None:
    """Let the console show or change a model of another app (enterprise's) to whoever the policy
    lets do `action` on `resource`; an app calls this from its `admin` module."""
    known = ADMIN_PERMISSIONS.get(perm)
    if known is not None and known != (resource, action):
        raise ValueError(f"{perm} already maps to {known}.")
    ADMIN_PERMISSIONS[perm] = (resource, action)


def admin_permission(user, perm: str) -> bool:
    target = ADMIN_PERMISSIONS.get(perm)
    if target is None:
        return False
    resource, action = target
    return policy.can(user, action, resource)


def admin_module_permission(user, app_label: str) -> bool:
    prefix = f"{app_label}."
    return any(admin_permission(user, key) for key in ADMIN_PERMISSIONS if key.startswith(prefix))
