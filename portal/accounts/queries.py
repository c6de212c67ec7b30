"""Querysets and lookups for users and tokens."""

from __future__ import annotations

import contextlib
import uuid

from django.db.models import Q, QuerySet

from portal.accounts.choices import TokenKind
from portal.accounts.models import APIToken, User
from portal.errors import NotFound


def people() -> QuerySet[User]:
    return User.objects.filter(is_system=False)


def resolve_user(ref: str, *, me: User) -> User:
    """A user by `me`, id or username (case-insensitive), or NotFound."""
    if ref == "me":
        return me
    query = Q(username__iexact=ref)
    with contextlib.suppress(ValueError):
        query |= Q(pk=uuid.UUID(ref))
    user = people().filter(query).first()
    if user is None:
        raise NotFound(f"No user {ref!r}.")
    return user


def live_tokens(user: User) -> QuerySet[APIToken]:
    return APIToken.objects.filter(user=user, kind=TokenKind.TOKEN, revoked_at__isnull=True)


def resolve_token(user: User, ref: str) -> APIToken:
    """One of the user's live tokens by id, public key id or name."""
    query = Q(key_id=ref) | Q(name=ref)
    with contextlib.suppress(ValueError):
        query |= Q(pk=uuid.UUID(ref))
    token = live_tokens(user).filter(query).first()
    if token is None:
        raise NotFound(f"You have no token {ref!r}.")
    return token
