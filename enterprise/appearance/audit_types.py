"""Audit payload shape of the appearance (registered on import)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from portal.audit import types
from portal.audit.choices import AuditAction

APPEARANCE = "appearance"


class AppearanceChanged(TypedDict):
    """Changed by an owner; the field changes are in the entry's diff (a logo by its hash)."""

    fields: list[str]  # what changed, e.g. ["application_name", "service_banner"]
    via: NotRequired[str]  # "api" or "console"


types.declare_resource(
    APPEARANCE, label="Appearance", payloads={AuditAction.WRITE: AppearanceChanged}
)
