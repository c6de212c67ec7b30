"""Audit payload shape of groups (registered on import)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from portal.audit import types
from portal.audit.choices import AuditAction

GROUP = "group"


class GroupChanged(TypedDict):
    """Created, edited or deleted; field changes are in the entry's diff."""

    source: str
    members_added: NotRequired[list[str]]  # usernames
    members_removed: NotRequired[list[str]]
    via: NotRequired[str]  # "oidc" or "scim": the identity provider that made the change


types.declare_resource(
    GROUP,
    label="Group",
    payloads={
        AuditAction.CREATE: GroupChanged,
        AuditAction.WRITE: GroupChanged,
        AuditAction.DELETE: GroupChanged,
    },
)
