"""What each role may do (one table), and the user, token, session and audit policies on it."""

from __future__ import annotations

from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission

from portal import policy
from portal.accounts.choices import Role
from portal.accounts.models import APIToken, User
from portal.audit.models import AuditEntry

OWNER, TADMIN, UADMIN, AUDITOR = Role.OWNER, Role.TEMPLATE_ADMIN, Role.USER_ADMIN, Role.AUDITOR

# Members hold no site-wide permission: what they may do with their own things is checked by
# ownership, in queries.visible_to() and the services.
PERMISSIONS: dict[str, frozenset[str]] = {
    "user.read": frozenset({OWNER, UADMIN, AUDITOR, TADMIN}),
    "user.create": frozenset({OWNER, UADMIN}),
    "user.update_status": frozenset({OWNER, UADMIN}),
    "user.update_roles": frozenset({OWNER, UADMIN}),
    "user.unlock": frozenset({OWNER, UADMIN}),  # clear failed sign-ins (throttling.py)
    "user.reset_password": frozenset({OWNER, UADMIN}),  # a one-time password (passwords.py)
    "user.update_login_type": frozenset({OWNER}),  # password / oidc / none
    "user.update_profile": frozenset({OWNER, UADMIN}),  # another's username and name
    "token.read_all": frozenset({OWNER, UADMIN}),
    "token.revoke_all": frozenset({OWNER, UADMIN}),
    "audit.read": frozenset({OWNER, AUDITOR}),
    "template.read_all": frozenset({OWNER, TADMIN, AUDITOR}),
    "template.manage": frozenset({OWNER, TADMIN}),
    "workspace.read_all": frozenset({OWNER, TADMIN}),
    "workspace.manage_all": frozenset({OWNER}),
    "job.read_all": frozenset({OWNER, TADMIN}),
    # Another user's notification preferences (portal/notifications): yours are yours.
    "user.notification_preferences": frozenset({OWNER}),
}


def declare_permission(name: str, roles) -> str:
    """Add an app's permission to the role table (enterprise: `group.manage`...); declaring the
    same name with other roles is an error."""
    roles = frozenset(roles)
    if PERMISSIONS.setdefault(name, roles) != roles:
        raise ValueError(
            f"Permission {name!r} is already declared for {sorted(PERMISSIONS[name])}."
        )
    return name


# Who may grant or take away which role. A role's power is the set of permissions it holds in the
# table above, and one role contains another when it holds every permission of the other (an
# owner holds them all). Nobody grants or removes a role their own roles do not contain; and only
# owners grant or remove these, whatever the table says: a template admin runs code on the
# provisioners, so making one is as good as making an owner.
OWNER_GRANTED_ROLES: frozenset[str] = frozenset({OWNER, TADMIN})


def role_power(role: str) -> frozenset[str]:
    """The permissions a role holds (a member holds none site-wide)."""
    return frozenset(p for p, roles in PERMISSIONS.items() if role in roles)


def has_permission(user, permission: str) -> bool:
    if user is None or not user.is_authenticated:
        return False
    # The system actor is never "active" (it cannot sign in) but acts for workers and the CLI.
    if getattr(user, "is_system", False):
        return True
    if not user.is_active:
        return False
    allowed = PERMISSIONS[permission]
    return any(role in allowed for role in user.roles)


def may_grant(user, role: str) -> bool:
    """Whether `user` may give `role` to another user or take it away (see OWNER_GRANTED_ROLES)."""
    if getattr(user, "is_system", False):
        return True
    if not has_permission(user, "user.update_roles"):
        return False
    if role in OWNER_GRANTED_ROLES:
        return OWNER in user.roles
    held = frozenset().union(*(role_power(r) for r in user.roles))
    return role_power(role) <= held


def assignable_roles(user) -> frozenset[str]:
    """The roles `user` may grant or remove: what the console offers them."""
    return frozenset(role for role in Role.values if may_grant(user, role))


def role_refusal(permission: str) -> str:
    """The 403 message of a role-table check: which roles would do."""
    roles = ", ".join(sorted(PERMISSIONS[permission]))  # a typo fails at import time
    return f"You are not allowed to do this: it needs one of the roles {roles}."


class RoleTablePolicy(policy.Policy):
    """A resource whose site-wide actions are role-table permissions (see `site_wide`)."""

    def site_allows(self, actor, action: str) -> bool:
        permission = self.site_wide.get(action)
        return permission is not None and has_permission(actor, permission)

    def refusal(self, action: str) -> str:
        permission = self.site_wide.get(action)
        return role_refusal(permission) if permission else super().refusal(action)


def change_refusal(actor, user) -> str | None:
    """Why `actor` may not change `user`'s status or roles (None: the role table decides)."""
    if actor.pk == user.pk:
        return "You cannot change your own status or roles."
    if user.is_system:
        return "The system user cannot be changed."
    if user.has_role(OWNER) and not actor.has_role(OWNER) and not actor.is_system:
        return "Only an owner can change another owner."
    return None


# The actions on another user that change_refusal also limits.
_CHANGES = (
    "update_status",
    "update_roles",
    "unlock",
    "reset_password",
    "update_login_type",
    "update_profile",
)


class UserPolicy(RoleTablePolicy):
    """Everyone reads their own account; the rest needs a user permission, and nobody changes
    themselves, the system user, or (unless an owner) an owner."""

    resource = "user"
    model = User
    actions = (
        "read",
        "create",
        "update_status",
        "update_roles",
        "unlock",
        "update_password",
        "reset_password",
        "update_login_type",
        "update_profile",
        "update_git_ssh_key",  # regenerate: its owner only
        "notification_preferences",  # read and change them: yours, or owners
    )
    site_wide = {
        "read": "user.read",
        "create": "user.create",
        "update_status": "user.update_status",
        "update_roles": "user.update_roles",
        "unlock": "user.unlock",
        "reset_password": "user.reset_password",
        "update_login_type": "user.update_login_type",
        "update_profile": "user.update_profile",
        "notification_preferences": "user.notification_preferences",
    }

    def allows(self, actor, action, obj) -> bool:
        own = obj is not None and policy.active(actor)
        yours = (
            "read",
            "update_password",
            "update_profile",
            "update_git_ssh_key",
            "notification_preferences",
        )
        if action in yours and own and obj.pk == actor.pk:
            return True
        if action in ("update_password", "update_git_ssh_key"):
            return False  # only its owner: another's password is reset, their key is theirs
        if not self.site_allows(actor, action):
            return False
        return action not in _CHANGES or obj is None or change_refusal(actor, obj) is None

    def scope(self, actor, action):
        people = User.objects.filter(is_system=False)
        if self.site_allows(actor, action):
            return people
        if action == "read" and policy.active(actor):
            return people.filter(pk=actor.pk)
        return people.none()


class TokenPolicy(RoleTablePolicy):
    """A user's own API tokens are theirs; token.read_all / revoke_all reach everyone's."""

    resource = "token"
    model = APIToken
    actions = ("read", "create", "delete")
    site_wide = {"read": "token.read_all", "delete": "token.revoke_all"}

    def allows(self, actor, action, obj) -> bool:
        if not policy.active(actor):
            return False
        if action == "create" or (obj is not None and obj.user_id == actor.pk):
            return True
        return self.site_allows(actor, action)

    def scope(self, actor, action):
        if self.site_allows(actor, action):
            return APIToken.objects.all()
        if policy.active(actor):
            return APIToken.objects.filter(user=actor)
        return APIToken.objects.none()


class SessionPolicy(policy.Policy):
    """Anyone may sign in (a suspended account is refused); only a signed-in user signs out."""

    resource = "session"
    actions = ("create", "delete")

    def allows(self, actor, action, obj) -> bool:
        if action == "create" and (actor is None or not actor.is_authenticated):
            return True
        return policy.active(actor)


class AuditPolicy(RoleTablePolicy):
    resource = "audit"
    model = AuditEntry
    site_wide = {"read": "audit.read"}

    def allows(self, actor, action, obj) -> bool:
        return self.site_allows(actor, action)

    def scope(self, actor, action):
        if self.site_allows(actor, action):
            return AuditEntry.objects.all()
        return AuditEntry.objects.none()


class PublicPolicy(policy.Policy):
    """Endpoints for anyone, even signed out: build info, the API schema, the agent's code."""

    resource = "public"

    def allows(self, actor, action, obj) -> bool:
        return True


def register_policies() -> None:
    for p in (UserPolicy(), TokenPolicy(), SessionPolicy(), AuditPolicy(), PublicPolicy()):
        policy.register(p)


class IsActiveUser(BasePermission):
    """Signed in with a live credential and not suspended (suspension gives 403)."""

    message = "Your account is suspended. Ask an administrator to reactivate it."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            raise NotAuthenticated()
        return user.is_active


class HasPermission(BasePermission):
    """`permission_classes = [IsActiveUser, HasPermission.of("audit.read")]`."""

    permission = ""
    message = "You are not allowed to do this."

    @classmethod
    def of(cls, permission: str) -> type[HasPermission]:
        message = role_refusal(permission)
        return type(f"Has_{permission}", (cls,), {"permission": permission, "message": message})

    def has_permission(self, request, view) -> bool:
        return has_permission(request.user, self.permission)
