"""Every write to template ACLs: the Everyone entry of a new template, and audited ACL edits."""

from __future__ import annotations

import uuid

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

from enterprise.groups.membership import everyone
from enterprise.groups.models import Group
from enterprise.groups.queries import members_of
from enterprise.template_acl.choices import ACLRole
from enterprise.template_acl.models import TemplateACL
from portal import policy
from portal.accounts.permissions import PERMISSIONS
from portal.audit import services as audit
from portal.audit.choices import AuditAction
from portal.errors import Forbidden, ValidationFailed
from templates_app.audit_types import TemplateResourceType
from templates_app.models import Template

REMOVE = ""
DISABLE_EVERYONE = "disable_everyone_group_access"


def on_template_created(template: Template, *, actor, options: dict) -> None:
    """The template_created hook: Everyone may use a new template unless its creator said no."""
    if options.get(DISABLE_EVERYONE):
        return
    TemplateACL.objects.get_or_create(
        template=template, group=everyone(), defaults={"role": ACLRole.USE}
    )


def refusal(actor, template: Template) -> str | None:
    """Why `actor` may not read or change this template's ACL (None: they may)."""
    if policy.can(actor, "update", template):
        return None
    roles = ", ".join(sorted(PERMISSIONS["template.manage"]))
    return (
        f"You are not allowed to manage access to template {template.name!r}: it needs one of "
        f"the roles {roles}, or the template's admin role."
    )


def acl_of(template: Template) -> dict:
    """The ACL as the API shows it: users and groups with their roles (groups with members)."""
    entries = TemplateACL.objects.filter(template=template).select_related("user", "group")
    users, groups = [], []
    for entry in entries.order_by("user__username", "group__name"):
        if entry.user_id:
            user = entry.user
            users.append(
                {"id": user.pk, "username": user.username, "name": user.name, "role": entry.role}
            )
        else:
            group = entry.group
            groups.append(
                {
                    "id": group.pk,
                    "name": group.name,
                    "display_name": group.display_name,
                    "role": entry.role,
                    "members": members_of(group).count(),
                }
            )
    return {"users": users, "groups": groups}


def _is_uuid(ref: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


def _lookup(model, field: str, refs, what: str, errors: list) -> dict:
    """ref -> object, by id or (case-insensitive) name; unknown refs are added to `errors`."""
    found = {}
    for ref in refs:
        ref_id = _is_uuid(ref)
        query = Q(**{f"{field}__iexact": ref})
        if ref_id is not None:
            query |= Q(pk=ref_id)
        obj = model.objects.filter(query).first()
        if obj is None or getattr(obj, "is_system", False):
            errors.append({"field": f"{what}_perms", "detail": f"No {what} {ref!r}."})
        else:
            found[ref] = obj
    return found


def _check_roles(perms, what: str, errors: list) -> dict[str, str]:
    if perms is None:
        return {}
    if not isinstance(perms, dict):
        errors.append({"field": f"{what}_perms", "detail": "Send an object of name: role."})
        return {}
    clean = {}
    for ref, role in perms.items():
        if role not in (*ACLRole.values, REMOVE):
            errors.append(
                {
                    "field": f"{what}_perms",
                    "detail": f"{ref}: use 'use', 'admin' or '' (remove), not {role!r}.",
                }
            )
        clean[str(ref)] = role
    return clean


def _snapshot(template: Template) -> dict:
    entries = TemplateACL.objects.filter(template=template).select_related("user", "group")
    return {
        (f"acl.users.{e.user.username}" if e.user_id else f"acl.groups.{e.group.name}"): e.role
        for e in entries
    }


def update_acl(
    template: Template, *, actor, user_perms: dict | None = None, group_perms: dict | None = None
) -> dict:
    """Set or remove ("") entries of users and groups (by id or name); all or nothing.

    Who may: template.manage, or an `admin` of this template. Returns the ACL after.
    """
    reason = refusal(actor, template)
    if reason is not None:
        raise Forbidden(reason)
    errors: list[dict] = []
    users = _check_roles(user_perms, "user", errors)
    groups = _check_roles(group_perms, "group", errors)
    user_objs = _lookup(get_user_model(), "username", users, "user", errors)
    group_objs = _lookup(Group, "name", groups, "group", errors)
    if errors:
        names = "; ".join(e["detail"] for e in errors)
        raise ValidationFailed(f"The access list was not changed: {names}", validations=errors)
    with transaction.atomic():
        template = Template.objects.select_for_update(of=("self",)).get(pk=template.pk)
        before = _snapshot(template)
        for subjects, objs, field in ((users, user_objs, "user"), (groups, group_objs, "group")):
            for ref, role in subjects.items():
                entries = TemplateACL.objects.filter(template=template, **{field: objs[ref]})
                if role == REMOVE:
                    entries.delete()
                elif not entries.update(role=role):
                    TemplateACL.objects.create(template=template, role=role, **{field: objs[ref]})
        after = _snapshot(template)
        if before != after:
            audit.record(
                actor=actor,
                action=AuditAction.WRITE,
                resource_type=TemplateResourceType.TEMPLATE,
                resource_id=template.pk,
                resource_target=template.name,
                diff=audit.diff(before, after),
            )
    return acl_of(template)
