"""The template policy's ACL rule: who may see, use and administer which template (one query)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from enterprise.groups.models import Group, GroupMember
from enterprise.template_acl.choices import ACLRole
from enterprise.template_acl.models import TemplateACL
from portal import features, policy
from portal.accounts.permissions import has_permission

GATE = "template_rbac"
# Who passes the ACL for each action: these see, use or change every template as before.
EXEMPT = {"read": "template.read_all", "use": "template.manage", "update": "template.manage"}
# The roles of an entry that allow each action.
ROLES = {
    "read": (ACLRole.USE, ACLRole.ADMIN),
    "use": (ACLRole.USE, ACLRole.ADMIN),
    "update": (ACLRole.ADMIN,),
}


def active() -> bool:
    """The gate: licensing may turn template access control off (everyone sees all again)."""
    return features.enabled(GATE)


def entries_naming(actor, roles=(ACLRole.USE, ACLRole.ADMIN)) -> QuerySet[TemplateACL]:
    """Entries naming `actor` or a group of theirs ("Everyone" while active), as subqueries."""
    subject = Q(user_id=actor.pk) | Q(
        group_id__in=GroupMember.objects.filter(user_id=actor.pk).values("group_id")
    )
    if getattr(actor, "is_active", False):
        subject |= Q(group_id__in=Group.objects.filter(is_everyone=True).values("pk"))
    return TemplateACL.objects.filter(subject, role__in=roles)


def _applies(actor, action: str) -> bool:
    return action in ROLES and active() and not has_permission(actor, EXEMPT[action])


def narrows(actor, action: str, qs: QuerySet) -> QuerySet:
    """Templates the ACL lets `actor` `action`; what it leaves out is refused too."""
    if not _applies(actor, action):
        return qs
    if not policy.active(actor):
        return qs.none()
    return qs.filter(pk__in=entries_naming(actor, ROLES[action]).values("template_id"))


def widens(actor, action: str, qs: QuerySet) -> QuerySet:
    """An ACL `admin` may update that template though the role table does not let them."""
    if action != "update" or not _applies(actor, action) or not policy.active(actor):
        return qs.none()
    admin = entries_naming(actor, (ACLRole.ADMIN,)).values("template_id")
    return qs.filter(deleted_at__isnull=True, pk__in=admin)


acl_rule = policy.Rule(narrows=narrows, widens=widens, name="template ACL")


def register() -> None:
    policy.add_rule("template", acl_rule)
