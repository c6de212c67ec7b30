"""Reading membership: the groups of a user, "Everyone" included, in one query."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from enterprise.groups.choices import EVERYONE_NAME, GroupSource
from enterprise.groups.models import Group, GroupMember


def everyone() -> Group:
    """The implicit group of every active user (made by the first migration; remade if lost)."""
    group, _ = Group.objects.get_or_create(
        is_everyone=True,
        defaults={"name": EVERYONE_NAME, "display_name": "Everyone", "source": GroupSource.USER},
    )
    return group


def groups_of(user) -> QuerySet[Group]:
    """The groups `user` is in: "Everyone" while active, and every explicit membership."""
    if user is None or not getattr(user, "is_authenticated", False) or user.pk is None:
        return Group.objects.none()
    explicit = Q(pk__in=GroupMember.objects.filter(user_id=user.pk).values("group_id"))
    if getattr(user, "is_active", False):
        return Group.objects.filter(explicit | Q(is_everyone=True))
    return Group.objects.filter(explicit)


def group_ids_of(user) -> list:
    """The user_groups hook: ids of the user's explicit groups (core adds "Everyone")."""
    if user is None or getattr(user, "pk", None) is None:
        return []
    return list(GroupMember.objects.filter(user_id=user.pk).values_list("group_id", flat=True))
