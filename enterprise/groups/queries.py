"""Lookups of groups a caller may see and of the users a member list names."""

from __future__ import annotations

import contextlib
import uuid

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Lower

from enterprise.groups.models import Group
from portal import policy
from portal.accounts.choices import UserStatus
from portal.accounts.queries import people
from portal.errors import NotFound, ValidationFailed

MAX_USERS_PER_REQUEST = 1000


def visible_to(actor) -> QuerySet[Group]:
    """The groups `actor` may read (their own; all with group.read_all), with member counts."""
    return policy.visible_to(actor, "group").annotate(member_rows=Count("memberships"))


def _ref_query(ref: str) -> Q:
    query = Q(name__iexact=ref)
    with contextlib.suppress(ValueError):
        query |= Q(pk=uuid.UUID(ref))
    return query


def resolve_group(ref: str, actor) -> Group:
    """A group `actor` may read, by name (any case) or id; NotFound otherwise (never 403)."""
    group = visible_to(actor).filter(_ref_query(ref)).first()
    if group is None:
        raise NotFound(f"No group {ref!r}.")
    return group


def active_people() -> QuerySet:
    """The implicit members of Everyone: people who are not suspended."""
    return people().exclude(status=UserStatus.SUSPENDED)


def everyone_count() -> int:
    return active_people().count()


def members_of(group: Group) -> QuerySet:
    if group.is_everyone:
        return active_people()
    return get_user_model().objects.filter(group_memberships__group=group)


def resolve_users(refs, field: str = "users") -> list:
    """Users named by username (any case) or id; a 400 naming every unknown one, so nothing is
    written when one is wrong."""
    if not isinstance(refs, list) or not all(isinstance(r, str) and r.strip() for r in refs):
        raise ValidationFailed.field(field, "Give a list of usernames or user ids.")
    if not refs:
        raise ValidationFailed.field(field, "Give at least one username or user id.")
    if len(refs) > MAX_USERS_PER_REQUEST:
        raise ValidationFailed.field(
            field, f"Give at most {MAX_USERS_PER_REQUEST} users per request."
        )
    names = {r.strip().lower() for r in refs}
    ids = set()
    for ref in refs:
        with contextlib.suppress(ValueError):
            ids.add(uuid.UUID(ref.strip()))
    lowered = people().annotate(lower_name=Lower("username"))
    found = list(lowered.filter(Q(lower_name__in=names) | Q(pk__in=ids)))
    known = {u.username.lower() for u in found} | {str(u.pk) for u in found}
    unknown = [r for r in refs if r.strip().lower() not in known and _uuid_text(r) not in known]
    if unknown:
        listed = ", ".join(repr(r) for r in unknown)
        raise ValidationFailed.field(field, f"No such user: {listed}. Nothing was changed.")
    return found


def _uuid_text(ref: str) -> str:
    try:
        return str(uuid.UUID(ref.strip()))
    except ValueError:
        return ""
