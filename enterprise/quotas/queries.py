"""Looking up whose quota a caller asks for: 404 when they may not read it (never 403)."""

from __future__ import annotations

from enterprise.quotas.models import QuotaSubject
from portal import policy
from portal.accounts.queries import resolve_user
from portal.errors import NotFound


def resolve_subject(ref: str, actor) -> QuotaSubject:
    """The user `ref` ("me", a username or an id) whose quota `actor` may read, or NotFound."""
    user = resolve_user(ref, me=actor)
    subject = policy.visible_to(actor, "workspace_quota").filter(pk=user.pk).first()
    if subject is None:
        raise NotFound(f"No user {ref!r}.")
    return subject
