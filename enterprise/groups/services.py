"""Every write to groups and their members: one transaction each, with its audit entry."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from enterprise.groups import permissions
from enterprise.groups.audit_types import GROUP
from enterprise.groups.choices import GroupSource
from enterprise.groups.models import Group, GroupMember, group_name_validator
from portal.audit import services as audit
from portal.audit.choices import AuditAction
from portal.errors import Conflict, Forbidden, ValidationFailed

EDITABLE = ("name", "display_name", "avatar_url", "quota_allowance")


def _snapshot(group: Group) -> dict:
    return {field: getattr(group, field) for field in EDITABLE}


def _record(group: Group, *, actor, action, before=None, extra=None, via: str = "") -> None:
    fields = {"source": group.source, **(extra or {})}
    if via:
        fields["via"] = via
    audit.record(
        actor=actor,
        action=action,
        resource_type=GROUP,
        resource_id=group.pk,
        resource_target=group.name,
        diff=audit.diff(before or {}, _snapshot(group)) if action != AuditAction.DELETE else {},
        additional_fields=fields,
    )


def _check(actor, action: str, group: Group | None, fields=()) -> None:
    if group is None:
        if not permissions.policy.can(actor, action, "group"):
            raise Forbidden(permissions.role_refusal(permissions.GROUP_MANAGE))
        return
    reason = permissions.refusal(actor, action, group, fields)
    if reason is not None:
        raise Forbidden(reason)


def _validate(values: dict) -> dict:
    clean = {}
    if "name" in values:
        name = str(values["name"] or "").strip().lower()
        try:
            group_name_validator(name)
        except DjangoValidationError as exc:
            raise ValidationFailed.field("name", exc.messages[0]) from None
        clean["name"] = name
    if "display_name" in values:
        display = str(values["display_name"] or "").strip()
        if len(display) > 128:
            raise ValidationFailed.field("display_name", "Use at most 128 characters.")
        clean["display_name"] = display
    if "avatar_url" in values:
        url = str(values["avatar_url"] or "").strip()
        if url and not url.startswith(("https://", "http://", "/")):
            raise ValidationFailed.field("avatar_url", "Use an http(s) URL or a path.")
        if len(url) > 512:
            raise ValidationFailed.field("avatar_url", "Use at most 512 characters.")
        clean["avatar_url"] = url
    if "quota_allowance" in values:
        allowance = values["quota_allowance"]
        if isinstance(allowance, bool) or not isinstance(allowance, int) or allowance < 0:
            raise ValidationFailed.field("quota_allowance", "Use a whole number, 0 or more.")
        if allowance > 2**31 - 1:
            raise ValidationFailed.field("quota_allowance", "Use a number below 2147483648.")
        clean["quota_allowance"] = allowance
    return clean


def _name_taken(name: str) -> Conflict:
    return Conflict(f"A group named {name!r} already exists.")


def create_group(
    *,
    actor,
    name: str,
    display_name: str = "",
    avatar_url: str = "",
    quota_allowance: int = 0,
    source: str = GroupSource.USER,
    external_id: str = "",
) -> Group:
    """A new group; people create `user` groups, an identity provider's actor its own."""
    _check(actor, "create", None)
    if source not in GroupSource.values:
        raise ValidationFailed.field("source", f"Use one of {', '.join(GroupSource.values)}.")
    if source != GroupSource.USER and not getattr(actor, "is_system", False):
        raise Forbidden("Only an identity provider creates groups it owns.")
    values = _validate(
        {
            "name": name,
            "display_name": display_name,
            "avatar_url": avatar_url,
            "quota_allowance": quota_allowance,
        }
    )
    if Group.objects.filter(name__iexact=values["name"]).exists():
        raise _name_taken(values["name"])
    try:
        with transaction.atomic():
            group = Group.objects.create(source=source, external_id=external_id, **values)
            _record(group, actor=actor, action=AuditAction.CREATE, via=_via(source, actor))
    except IntegrityError:
        raise _name_taken(values["name"]) from None
    return group


def _via(source: str, actor) -> str:
    return source if source != GroupSource.USER and getattr(actor, "is_system", False) else ""


def update_group(group: Group, *, actor, **changes) -> Group:
    """Change some of name, display_name, avatar_url, quota_allowance (and external_id, IdPs)."""
    external_id = changes.pop("external_id", None)
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ValidationFailed.field(unknown[0], f"Only {', '.join(EDITABLE)} can be changed.")
    values = _validate(changes)
    _check(actor, "update", group, fields=[f for f in values if values[f] != getattr(group, f)])
    with transaction.atomic():
        locked = Group.objects.select_for_update().get(pk=group.pk)
        before = _snapshot(locked)
        renamed = "name" in values and values["name"] != locked.name
        others = Group.objects.exclude(pk=locked.pk)
        if renamed and others.filter(name__iexact=values["name"]).exists():
            raise _name_taken(values["name"])
        for field, value in values.items():
            setattr(locked, field, value)
        if external_id is not None and getattr(actor, "is_system", False):
            locked.external_id = external_id
        try:
            with transaction.atomic():
                locked.save()
        except IntegrityError:
            raise _name_taken(values.get("name", locked.name)) from None
        if _snapshot(locked) != before:
            _record(
                locked,
                actor=actor,
                action=AuditAction.WRITE,
                before=before,
                via=_via(locked.source, actor),
            )
    return locked


def delete_group(group: Group, *, actor) -> None:
    _check(actor, "delete", group)
    with transaction.atomic():
        locked = Group.objects.select_for_update().filter(pk=group.pk).first()
        if locked is None:
            return  # already gone: deleting twice is not an error
        _record(locked, actor=actor, action=AuditAction.DELETE, via=_via(locked.source, actor))
        locked.delete()


def _usernames(users) -> list[str]:
    return sorted(u.username for u in users)


def _change_members(group: Group, *, actor, added: list, removed: list) -> None:
    """Write one membership change of a group (its row locked by the caller) and its entry."""
    GroupMember.objects.filter(group=group, user_id__in=[u.pk for u in removed]).delete()
    GroupMember.objects.bulk_create(
        [GroupMember(group=group, user=u) for u in added], ignore_conflicts=True
    )
    if not (added or removed):
        return
    extra = {}
    if added:
        extra["members_added"] = _usernames(added)
    if removed:
        extra["members_removed"] = _usernames(removed)
    _record(
        group,
        actor=actor,
        action=AuditAction.WRITE,
        before=_snapshot(group),
        extra=extra,
        via=_via(group.source, actor),
    )


def _lock_members(group: Group, user_ids=None) -> set:
    """Lock the group's row (member changes of one group queue) and read its member ids,
    among `user_ids` when given."""
    Group.objects.select_for_update().filter(pk=group.pk).first()
    members = GroupMember.objects.filter(group=group)
    if user_ids is not None:
        members = members.filter(user_id__in=user_ids)
    return set(members.values_list("user_id", flat=True))


def add_members(group: Group, users: Iterable, *, actor) -> list:
    """Add users (User objects); returns those who were not already members."""
    _check(actor, "update_members", group)
    users = {u.pk: u for u in users}
    with transaction.atomic():
        present = _lock_members(group, users)
        added = [u for pk, u in users.items() if pk not in present]
        _change_members(group, actor=actor, added=added, removed=[])
    return added


def remove_members(group: Group, users: Iterable, *, actor) -> list:
    """Remove users; returns those who were members (others are ignored)."""
    _check(actor, "update_members", group)
    users = {u.pk: u for u in users}
    with transaction.atomic():
        present = _lock_members(group, users)
        removed = [u for pk, u in users.items() if pk in present]
        _change_members(group, actor=actor, added=[], removed=removed)
    return removed


def set_members(group: Group, users: Iterable, *, actor) -> tuple[list, list]:
    """Make the members exactly `users` (SCIM PUT); returns (added, removed)."""
    _check(actor, "update_members", group)
    wanted = {u.pk: u for u in users}
    with transaction.atomic():
        current = _lock_members(group)
        added = [u for pk, u in wanted.items() if pk not in current]
        gone = current - set(wanted)
        removed = list(get_user_model().objects.filter(pk__in=gone)) if gone else []
        _change_members(group, actor=actor, added=added, removed=removed)
    return added, removed


def sync_user_groups(user, groups: Iterable[Group], *, source: str, actor) -> tuple[list, list]:
    """Make `user`'s groups of `source` exactly `groups` (OIDC sign-in); other groups untouched.
    Returns (groups joined, groups left). One membership insert and one delete whatever the
    number of groups (a sign-in must stay fast with many), and an audit entry per group."""
    wanted = {g.pk: g for g in groups if g.source == source and not g.is_everyone}
    for group in wanted.values():
        _check(actor, "update_members", group)
    with transaction.atomic():
        current = {
            m.group_id: m.group
            for m in GroupMember.objects.filter(user=user, group__source=source).select_related(
                "group"
            )
        }
        joined = [g for pk, g in wanted.items() if pk not in current]
        left = [g for pk, g in current.items() if pk not in wanted]
        for group in left:
            _check(actor, "update_members", group)
        GroupMember.objects.filter(user=user, group_id__in=[g.pk for g in left]).delete()
        GroupMember.objects.bulk_create(
            [GroupMember(group=g, user=user) for g in joined], ignore_conflicts=True
        )
        for group, change in [(g, "members_added") for g in joined] + [
            (g, "members_removed") for g in left
        ]:
            _record(
                group,
                actor=actor,
                action=AuditAction.WRITE,
                before=_snapshot(group),
                extra={change: [user.username]},
                via=_via(group.source, actor),
            )
    return joined, left
