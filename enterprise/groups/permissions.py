"""Who may see and change groups (the policy), on the role table's group permissions."""

from __future__ import annotations

from enterprise.groups.membership import groups_of
from enterprise.groups.models import Group
from portal import policy
from portal.accounts.choices import Role
from portal.accounts.permissions import RoleTablePolicy, declare_permission, role_refusal

OWNER, TADMIN, UADMIN, AUDITOR = Role.OWNER, Role.TEMPLATE_ADMIN, Role.USER_ADMIN, Role.AUDITOR

# Template admins read every group to grant template access to it; user admins manage them.
GROUP_READ = declare_permission("group.read_all", {OWNER, UADMIN, TADMIN, AUDITOR})
GROUP_MANAGE = declare_permission("group.manage", {OWNER, UADMIN})

# What people may still change on a group an identity provider owns: its allowance is Portal's
# own setting (the IdP never sends one); name, display name, avatar and members are the IdP's.
IDP_EDITABLE = frozenset({"quota_allowance"})


class GroupPolicy(RoleTablePolicy):
    """Members read their own groups; group.read_all reads all; group.manage changes them,
    except what an identity provider owns (only the IdP's own actor changes that) and the
    members of Everyone (nobody: they are implicit)."""

    resource = "group"
    model = Group
    actions = ("read", "create", "update", "delete", "update_members")
    site_wide = {
        "read": GROUP_READ,
        "create": GROUP_MANAGE,
        "update": GROUP_MANAGE,
        "delete": GROUP_MANAGE,
        "update_members": GROUP_MANAGE,
    }

    def allows(self, actor, action, obj) -> bool:
        if action == "read" and obj is not None and policy.active(actor):
            if self.site_allows(actor, action):
                return True
            return groups_of(actor).filter(pk=obj.pk).exists()
        if not self.site_allows(actor, action):
            return False
        if obj is None:
            return True
        if action == "delete" and obj.is_everyone:
            return False
        if action == "update_members" and obj.is_everyone:
            return False
        if action in ("delete", "update_members") and obj.managed_by_idp:
            return bool(getattr(actor, "is_system", False))
        return True

    def scope(self, actor, action):
        if self.site_allows(actor, action):
            return Group.objects.all()
        if action == "read" and policy.active(actor):
            return groups_of(actor)
        return Group.objects.none()


def refusal(actor, action: str, group: Group, fields=()) -> str | None:
    """Why `actor` may not `action` this group (a sentence for the 4xx), or None if they may."""
    if group.is_everyone and action == "delete":
        return "Everyone cannot be deleted: every active user is in it."
    if group.is_everyone and action == "update_members":
        return "Everyone's members cannot be edited: every active user is in it."
    if group.is_everyone and "name" in fields:
        return "Everyone cannot be renamed."
    idp_only = set(fields) - IDP_EDITABLE if action == "update" else set()
    if (
        group.managed_by_idp
        and not getattr(actor, "is_system", False)
        and (action in ("delete", "update_members") or idp_only)
    ):
        return (
            f"This group is managed by {group.get_source_display()}: change it in your identity "
            "provider (only its quota allowance can be changed here)."
        )
    if not policy.can(actor, action, group):
        return role_refusal(GROUP_MANAGE)
    return None


def register_policies() -> None:
    policy.register(GroupPolicy())
